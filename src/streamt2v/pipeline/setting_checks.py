"""The settings' shared checks and errors: :class:`SettingError` for stages 1-2 and
:class:`EnhanceSettingError` for stage 3 (their messages name fields, which the command line turns into
flags outside :data:`QUOTED` text), the run's seed range (:func:`check_seed`) and the conditioning frames a
CAM takes (:func:`check_cam_frames`)."""

from __future__ import annotations

import numbers

from streamt2v.typed_values import shown_number, shown_value

# Seeds are below it: torch.Generator.manual_seed takes 64-bit seeds (stage 3 seeds one with the run's seed
# as it is; a larger one failed there with "Overflow when unpacking long long", after stages 1-2).
SEED_LIMIT = 2**64


def check_seed(seed: object) -> None:
    """Refuse a seed that is not an integer in ``[0, SEED_LIMIT)``, naming it."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < SEED_LIMIT:
        import torch  # loaded by every caller: a generator is no seed, but it holds one

        got = shown_value(seed)
        if isinstance(seed, torch.Generator):
            got = "a torch.Generator: pass its seed (gen.initial_seed())"
        raise ValueError(f"seed must be an integer in [0, 2**64), got {got}")


# A quoted prompt, path or value in a message (not an apostrophe: "the model's"): text the user typed, where a
# word that is a setting's name (``unknown scheduler 'fps'``) names no setting.
QUOTED = r"(?<!\w)'[^']*'(?!\w)|(?<!\w)\"[^\"]*\"(?!\w)"


class SettingError(ValueError):
    """A stage-1/2 setting refused (:class:`~streamt2v.pipeline.stream.StreamConfig`, the chunk plan, the
    step counts): the message names the settings by their field names, which the command line shows as
    its flags (``num_frames`` as ``--frames``). Stage 3 refuses its settings with
    :class:`EnhanceSettingError`."""


class EnhanceSettingError(SettingError):
    """A stage-3 setting refused (:class:`~streamt2v.pipeline.enhance_config.EnhanceConfig`, its start step
    against a refiner's noise schedule), named by its field names, which each command shows as its own flags
    (``chunk_frames``: ``generate --enhance-chunk-frames``, ``enhance --chunk-frames``; also stage 2's name).

    :attr:`message` is the refusal alone; :attr:`unset` holds the settings it names that the caller did not
    give, ``name: (value, where it came from)`` (``"the official default"``, a refiner's recommendation), and
    :meth:`note` says so. ``str()`` is the message and the note (or ``note``, when given)."""

    def __init__(
        self, message: str, unset: dict[str, tuple[object, str]] | None = None, note: str | None = None
    ) -> None:
        self.message, self.unset = message, dict(unset or {})
        super().__init__(message + (self.note() if note is None else note))

    def note(self, names: dict[str, str] | None = None, *, settable: bool = True) -> str:
        """The end of the message naming each setting of :attr:`unset`, as ``names`` shows it (a command's
        flags; by default the field name), and how to set it: not for one without a name there, nor with
        ``settable`` False (the settings come from elsewhere: a stored run)."""
        parts = []
        for field, (value, source) in self.unset.items():
            name = field if names is None else names.get(field)
            how = f" (set {name} to change it)" if name and settable else ""
            parts.append(f"; {name or field} {value!r} is {source}{how}")
        return "".join(parts)


def check_cam_frames(cond_frames: int, cam_frames: int, cam: str = "the model's CAM") -> None:
    """Refuse ``cond_frames`` other than the ``cam_frames`` conditioning frames the CAM (``cam``, as the
    message names it) was built for: the stream UNet's conditioning layers are sized for them (generate
    refuses the setting; assemble a sampler that recommends it)."""
    if cond_frames != cam_frames:
        raise SettingError(
            f"cond_frames={shown_number(cond_frames)} does not match {cam}, which was built for {cam_frames} "
            "conditioning frames"
        )
