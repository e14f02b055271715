"""Where the workflows' eval datasets live: ``evals/datasets/<workflow>.<golden|adversarial>.jsonl``."""

from pathlib import Path

DATASETS = Path(__file__).resolve().parent.parent / "evals" / "datasets"


def datasets(workflow: str) -> tuple[Path, ...]:
    """The golden and adversarial dataset files of ``workflow``."""
    return tuple(DATASETS / f"{workflow}.{kind}.jsonl" for kind in ("golden", "adversarial"))
