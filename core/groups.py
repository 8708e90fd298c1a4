"""Channel-layer group names, built in one place so senders and consumers always agree."""


def user_group(user_id: int) -> str:
    return f"user.{user_id}"
