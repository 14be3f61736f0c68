"""What the dataset commands print about a queued version, and how they wait for it."""

from django.core.management.base import CommandError

from hpml_portal.management.waiting import wait_for_status

from ..models import DatasetVersion


def report_queued(command, version: DatasetVersion, created: bool, *, wait: bool, timeout) -> None:
    """Say what happened; without ``wait`` the version's id is the last line, with it the
    final status word (exit non-zero unless READY)."""
    version.refresh_from_db()
    if created and version.never_queued:
        raise CommandError(
            f"{version.ref} (id {version.pk}): {version.error}; retry it with "
            f"`retry_dataset_version {version.ref}` once the broker is back"
        )
    if created:
        command.stdout.write(f"queued {version.ref} (id {version.pk}) from {version.source}")
    elif version.source_kind == DatasetVersion.Source.PROCESS:
        command.stdout.write(
            f"this recipe already made {version.ref} (id {version.pk}) ({version.status})"
        )
    else:
        command.stdout.write(
            f"{version.ref} (id {version.pk}) already holds this content ({version.status})"
        )
    if not wait:
        command.stdout.write(str(version.pk))
        return
    progress = _ProgressLine(command.stdout)

    def fetch():
        version.refresh_from_db()
        progress.show(version)
        duplicate = version.duplicate_of
        if duplicate is not None:  # the content was already there: that version is the answer
            command.stdout.write(
                f"{version.ref} has the same content as {duplicate.ref} (id {duplicate.pk})"
            )
            duplicate.refresh_from_db()
            return duplicate.status, duplicate.error
        return version.status, version.error

    wait_for_status(
        fetch,
        terminal=DatasetVersion.TERMINAL,
        success=DatasetVersion.Status.READY,
        stdout=command.stdout,
        timeout=timeout,
        interval=0.25,
    )


class _ProgressLine:
    """Prints a line when the status changes or another tenth of the bytes has arrived."""

    def __init__(self, stdout):
        self.stdout, self.last = stdout, None

    def show(self, version: DatasetVersion) -> None:
        if version.status != DatasetVersion.Status.INGESTING:
            return
        fraction = version.progress
        step = (version.status, None if fraction is None else int(fraction * 10))
        if step == self.last:
            return
        self.last = step
        done = _size(version.bytes_done)
        if fraction is None:  # a source that does not say its size (a query, a built-in)
            self.stdout.write(f"INGESTING {done}" if version.bytes_done else "INGESTING")
        else:
            total = _size(version.bytes_total)
            self.stdout.write(f"INGESTING {fraction:.0%} ({done} of {total})")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
