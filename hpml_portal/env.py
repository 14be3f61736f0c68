"""The one reader of the environment, for settings and the few commands that need it."""

import environ


class _FileAwareMapping(environ.FileAwareMapping):
    """Reads ``<NAME>_FILE`` for ``NAME``, without the trailing newline most tools write."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return value.rstrip("\r\n") if self.env.get(f"{key}_FILE") else value


class Env(environ.Env):
    # No cache: a file read once would outlive a change of the variable naming it.
    ENVIRON = _FileAwareMapping(cache=False)


env = Env()
