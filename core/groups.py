"""Channel-layer group names, built in one place so senders and consumers always agree."""


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def plan_group(plan_id: int) -> str:
    """Everyone watching one optimiser plan's page (scheduling.consumers.PlanConsumer)."""
    return f"plan.{plan_id}"
