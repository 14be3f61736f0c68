from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from datasets.selectors import dataset_version_resolve
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments, wait_for_status

from ...models import TrainingRun
from ...services import training_run_create
from ...training.hyperparameters import ARCHITECTURES


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value.strip()
    return params


def add_run_arguments(parser, *, model_help: str) -> None:
    """What a run and a sweep are both asked: the data, the experiment, the model, the
    architecture."""
    parser.add_argument("--dataset", required=True, help="NAME (newest READY) or NAME:VERSION")
    parser.add_argument("--experiment", required=True, help="experiment name (made on first use)")
    parser.add_argument("--model-name", required=True, help=model_help)
    parser.add_argument("--architecture", default="mlp", choices=sorted(ARCHITECTURES))


def progress_line(run: TrainingRun) -> str:
    """Where a running run is: epoch, batch, pace and time left."""
    epochs = run.hyperparameters.get("epochs", "?")
    parts = [f"epoch {run.current_epoch + 1}/{epochs}"]
    parts.append(f"batch {run.batches_done}/{run.batches_per_epoch}")
    if run.samples_per_second:
        parts.append(f"{run.samples_per_second:,.0f} samples/s")
    if run.eta_seconds is not None:
        parts.append(f"ETA {int(run.eta_seconds // 60)}:{int(run.eta_seconds % 60):02d}")
    return "  ".join(parts)


class Command(BaseCommand):
    help = (
        "Queue a training run on a dataset version for the training workers. The new model "
        "version is registered under --model-name. The run, its experiment and the model "
        "belong to the dataset's team. Without --wait the run's id is the last line."
    )

    def add_arguments(self, parser):
        add_run_arguments(parser, model_help="registered model to add a version to")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a hyperparameter, e.g. --param epochs=30 (repeatable)",
        )
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    @one_line_errors
    def handle(
        self,
        *args,
        dataset,
        experiment,
        model_name,
        architecture,
        param,
        user,
        team,
        wait,
        timeout,
        **options,
    ):
        actor = actor_from(user)
        try:
            version = dataset_version_resolve(dataset, user=actor, team=team)
            run = training_run_create(
                experiment_name=experiment,
                dataset_version=version,
                model_name=model_name,
                architecture=architecture,
                hyperparameters=parse_params(param),
                user=actor,
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        run.refresh_from_db()
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"run {run.pk}: {run.error}")
        self.stdout.write(
            f"queued run {run.pk}: {architecture} on {version.ref} in experiment {experiment}, "
            f"registering into model {model_name}"
        )
        if not wait:
            self.stdout.write(str(run.pk))
            return
        wait_for_status(
            lambda: self._poll(run),
            terminal=TrainingRun.TERMINAL,
            success=TrainingRun.Status.SUCCEEDED,
            stdout=self.stdout,
            timeout=timeout,
        )

    def _poll(self, run: TrainingRun) -> tuple[str, str]:
        seen = run.current_epoch
        run.refresh_from_db()
        live = self.stdout.isatty()
        if run.current_epoch != seen and run.history:
            last = run.history[-1]
            metrics = " ".join(f"{k}={v:.4f}" for k, v in last.items() if k != "epoch")
            line = f"epoch {run.current_epoch}/{run.hyperparameters['epochs']} {metrics}"
            self.stdout.write(f"\r\033[K{line}" if live else line)
        epochs = run.hyperparameters.get("epochs", 0)
        training = run.status == TrainingRun.Status.RUNNING and run.current_epoch < epochs
        if live and training and run.batches_per_epoch:
            # One line redrawn in place while the epoch runs; a log gets the epoch lines only.
            self.stdout.write(f"\r\033[K{progress_line(run)}", ending="")
            self.stdout.flush()
            self._drawn = True
        elif getattr(self, "_drawn", False):  # what comes next starts on a clean line
            self.stdout.write("\r\033[K", ending="")
            self._drawn = False
        if run.status == TrainingRun.Status.SUCCEEDED:
            model_version = getattr(run, "model_version", None)
            accuracy = run.metrics.get("test_accuracy")
            if model_version is not None:
                self.stdout.write(
                    f"registered {model_version.model.name} version {model_version.version}"
                    + (f" (test accuracy {accuracy:.4f})" if accuracy is not None else "")
                )
        return run.status, run.error
