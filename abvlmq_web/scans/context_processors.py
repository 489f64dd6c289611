from django.conf import settings


def model_banner(request) -> dict:
    """Every page says "not for clinical use: demo model" while the demo model serves."""
    return {"demo_model": settings.ABVLMQ_DEMO_BANNER}
