# settings.py
INSTALLED_APPS = ["rs_guard.adapters.django"]  # the settings are checked when Django starts
MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]
RS_GUARD = {"PUBLIC_PATHS": ["/health"]}  # the rest here or in RS_GUARD_* variables
