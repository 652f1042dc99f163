"""Compatibility shims for third-party libraries on today's stack (see ``recbole``)."""
