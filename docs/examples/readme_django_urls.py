# urls.py
from django.http import JsonResponse
from django.urls import path

from rs_guard.adapters.django import require


@require("read:appointments")
def appointments(request):
    return JsonResponse({"for": request.auth.subject})


urlpatterns = [path("appointments", appointments)]
