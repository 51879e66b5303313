from typing import Annotated

from fastapi import FastAPI, Security

from rs_guard import AccessToken, load_config
from rs_guard.adapters.fastapi import RSGuard

auth = RSGuard(load_config())  # runs at import, when pytest collects the tests
app = FastAPI()
auth.install(app)


@app.get("/appointments")
async def appointments(
    token: Annotated[AccessToken, Security(auth, scopes=["read:appointments"])],
):
    return {"for": token.subject}
