"""Exit statuses and the error every command raises for a bad argument, file or setting."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class UsageError(Exception):
    """A problem with the arguments or files the user gave; the message says which."""
