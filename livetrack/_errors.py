"""The exception every user-facing error in livetrack derives from."""


class LivetrackError(Exception):
    """A problem with the user's input or files, reported as one line.

    The CLI prints ``livetrack: error: <message>`` and exits 1 for these;
    anything else is a bug and keeps its traceback.
    """


class InputError(LivetrackError, ValueError):
    """Bad input data: wrong dtype, dimensionality, NaNs, empty frames, ..."""


class ModelFileError(LivetrackError):
    """A model file that is missing, corrupt, or of an incompatible version."""
