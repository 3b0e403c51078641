"""A model given as a hub id (``owner/name``) instead of a local folder: its snapshot fetched
(huggingface_hub), or the one-line error saying why it could not be and which local folder to pass instead.

Kept apart from the model classes: resolving a folder needs neither torch nor the models, and the model
folder (:mod:`streamt2v.models.bundle`), the conversion's stage-1 and tokenizer folders
(:mod:`streamt2v.io.conversion_inputs`) and the CLIP score's model all resolve theirs here.
"""

from __future__ import annotations

import os
from pathlib import Path

from streamt2v.io.folders import home_path, looks_like_hub_id, named_path


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_failure_reason(err: BaseException) -> str:
    """Why a model hub download failed, in a few words (no library advice, no URLs)."""
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {c.__name__ for x in chain for c in type(x).__mro__}
    text = " ".join(str(x) for x in chain).lower()
    offline = (
        _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") or "OfflineModeIsEnabled" in names
    )
    if offline or ("offline" in text and "disabled" in text):
        return "offline mode is on (HF_HUB_OFFLINE) and it is not in the local hub cache"
    if "GatedRepoError" in names:
        return "the repository is gated (it needs a login and its terms accepted)"
    if "RepositoryNotFoundError" in names:
        return "the hub has no such repository (or it is private)"
    if "HFValidationError" in names:
        return "it is not a valid hub id either"
    unreachable = ("connect", "name or service not known", "timed out", "network is unreachable")
    if names & {"LocalEntryNotFoundError", "ConnectionError", "TimeoutError"} or any(
        w in text for w in unreachable
    ):
        return "the model hub cannot be reached (no network) and it is not in the local hub cache"
    first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
    return first[:200]


def hub_unavailable_error(text: str, what: str, err: BaseException, instead: str) -> FileNotFoundError:
    """The one-line error for a hub id that could not be fetched: what was tried, why it failed, and the local
    folder to pass instead (``instead``: what that folder holds)."""
    here = str(home_path(text).resolve())
    return FileNotFoundError(
        f"{what} {text!r} is not a local folder ({here!r} does not exist) and cannot be downloaded as a hub "
        f"id: {hub_failure_reason(err)}. Nothing can be downloaded here: fetch it where the hub is reachable "
        f"(e.g. hf download {text} --local-dir DIR), copy it over and pass the local folder DIR ({instead})"
    )


def resolve_model_path(
    path_or_hub_id: str | os.PathLike[str],
    what: str = "model folder",
    instead: str = "a streamt2v model folder with model_index.json",
    allow_patterns: list[str] | None = None,
) -> Path:
    """A local folder, or a hub snapshot (huggingface_hub) for an ``owner/name`` id. ``what`` names the
    argument in errors; ``instead`` says what the local folder to pass instead holds; ``allow_patterns``:
    the files of the snapshot that are needed (default: all)."""
    path = home_path(path_or_hub_id)
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"{what} {named_path(path_or_hub_id)} is a file, not a folder ({instead})")
    text = str(path_or_hub_id)
    if looks_like_hub_id(text):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo_id=text, allow_patterns=allow_patterns))
        except Exception as err:  # offline, unknown repo, ...: say what was tried and what to pass instead
            raise hub_unavailable_error(text, what, err, instead) from err
    raise FileNotFoundError(f"{what} {named_path(text)} does not exist")  # as given, then as read
