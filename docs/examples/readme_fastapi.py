from typing import Annotated

from fastapi import FastAPI, Security

from rs_guard import AccessToken, load_config
from rs_guard.adapters.fastapi import RSGuard

auth = RSGuard(load_config())  # RS_GUARD_DOMAIN, RS_GUARD_AUDIENCE, ...
app = FastAPI()
auth.install(app, public_paths=["/health"])  # /docs, /redoc and /openapi.json stay public
Reader = Annotated[AccessToken, Security(auth, scopes=["read:appointments"])]


@app.get("/appointments")
async def appointments(token: Reader):
    return {"for": token.subject}
