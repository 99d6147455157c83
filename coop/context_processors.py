from coop.selectors import member_for_user


def coop(request):
    """The signed-in member (if any) for the navigation bar."""
    return {"current_member": member_for_user(request.user)}
