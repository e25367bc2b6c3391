from core.roles import can_supervise, can_take_orders


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_take_orders": False, "can_supervise": False}
    return {"can_take_orders": can_take_orders(user), "can_supervise": can_supervise(user)}
