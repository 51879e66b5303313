from flask import Flask

from rs_guard.adapters.flask import RSGuard, current_token

guard = RSGuard()


def create_app(test_config=None):
    app = Flask(__name__)
    app.config["RS_GUARD_DOMAIN"] = "your-tenant.eu.auth0.com"
    app.config["RS_GUARD_AUDIENCE"] = "https://api.example.com"
    app.config.update(test_config or {})  # the test's settings win
    guard.init_app(app)

    @app.get("/appointments")
    @guard.require("read:appointments")
    def appointments():
        return {"for": current_token.subject}

    return app
