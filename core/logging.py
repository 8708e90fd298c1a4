"""Logging filters."""

import logging


class WithoutTraceback(logging.Filter):
    """One line for a refusal anyone can provoke (Django's `django.security` loggers: a body
    over the limit, too many form fields, an unknown Host): its message says what happened, and a
    full traceback per request would let a stranger fill the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True
