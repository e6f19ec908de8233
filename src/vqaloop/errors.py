"""User-facing errors: one clear line naming the file, row or config key, no stack trace."""


class UserError(Exception):
    """An error the user can fix (bad config key, bad manifest row, unreadable video, impossible budget).

    The CLI prints ``vqaloop: error: <message>`` and exits with status 2; nothing half-written stays behind.
    """
