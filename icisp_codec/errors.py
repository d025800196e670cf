"""Errors with their documented CLI exit codes (README, "Exit codes")."""


class IcispError(Exception):
    exit_code = 1


class UsageError(IcispError):
    exit_code = 2


class InputError(IcispError):
    """The input file cannot be read."""

    exit_code = 3


class UnsupportedInput(IcispError):
    exit_code = 4


class ModelError(IcispError):
    """Weights missing, corrupt, or not the ones a file was made with."""

    exit_code = 5


class CorruptFile(IcispError):
    """Not an .icisp file, truncated, failed CRC, or a format version this decoder does not know."""

    exit_code = 6


class DecoderDesync(IcispError):
    exit_code = 7


class WriteError(IcispError):
    exit_code = 8
