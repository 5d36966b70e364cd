"""User-facing errors: the CLI prints their message as one sentence, never a traceback."""


class UserError(Exception):
    """A mistake in what the user asked for (a name, a file, a key, a value)."""


class ConfigError(UserError):
    """A config key or value that does not validate."""


class PluginError(UserError):
    """A plugin that cannot be used (broken import, duplicate name)."""


class RecipeError(PluginError, ValueError):
    """A model plugin's modules or recipe that the training engine cannot run (``build()`` without a generator, a
    phase naming no optimiser of its stage, a module path the model lacks, a loss that is no ``LossResult``): one
    sentence, as every PluginError; a ValueError too, as these were before they were told as one."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same (normalised) name."""


#: how to mend a script saved with Windows line endings (CRLF), whose lines' last words bash passes with a '\r'
CRLF_REMEDY = "convert the script with `dos2unix SCRIPT` or `sed -i 's/\\r$//' SCRIPT`"
#: said of a value that ends in '\r' (the last word of a line of a script saved with Windows line endings)
CRLF = ("ends in a carriage return (\\r), as the last word of a line does in a script saved with Windows line "
        f"endings (CRLF); {CRLF_REMEDY}.")


def shown_name(name: str) -> str:
    """A file name or path as a message prints it: as it is, or with Python's escapes where it holds a character a
    terminal does not print (a '\\r' would move the cursor back over the start of the line, an ESC start a
    control sequence)."""
    return name if name.isprintable() or not name else repr(name)[1:-1]


#: how bash writes a character that does not show inside ``$'...'``
_SHELL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shell_word(text: str) -> str:
    """``text`` as one word a user can paste into a POSIX shell: ``shlex.quote``'s quoting, or, where it holds a
    character a terminal does not print (a '\\r' from a script saved with Windows line endings), bash's ``$'...'``
    with that character escaped, so the line shows it and pastes back as the same path (:func:`shown_name` of a
    quoted word escaped its quotes too)."""
    import shlex

    if text.isprintable():
        return shlex.quote(text)
    inner = "".join(_SHELL_ESCAPES.get(ch) or (ch if ch.isprintable() else
                                               f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\U{ord(ch):08x}")
                    for ch in text)
    return f"$'{inner}'"


def shell_line(words) -> str:
    """Words joined into a command line a user can paste, each quoted by :func:`shell_word`."""
    return " ".join(shell_word(str(word)) for word in words)


def closest(word: str, candidates, n: int = 3, cutoff: float = 0.5) -> list[str]:
    """The candidates closest to ``word`` (for 'did you mean' hints), each at least ``cutoff`` alike (difflib's
    ratio)."""
    import difflib

    cands = [str(c) for c in candidates]
    return difflib.get_close_matches(str(word), cands, n=n, cutoff=cutoff)


def tell(message: str, kind: str = "note") -> None:
    """Print ``note: ...`` or ``warning: ...`` on stderr: something the user should know that is not an error."""
    import sys

    print(f"{kind}: {message}", file=sys.stderr)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and its noun in the number it takes: ``1 seed``, ``0 seeds``, ``2 seeds`` (``plural`` where adding
    an s is not it: ``counted(n, "vertex", "vertices")``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
