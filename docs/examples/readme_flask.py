from flask import Flask

from rs_guard import load_config
from rs_guard.adapters.flask import RSGuard, current_token

app = Flask(__name__)
guard = RSGuard(app, config=load_config())  # RS_GUARD_DOMAIN, RS_GUARD_AUDIENCE, ...


@app.get("/appointments")
@guard.require("read:appointments")
def appointments():
    return {"for": current_token.subject}
