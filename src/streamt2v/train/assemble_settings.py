"""The settings an assembled folder stores for its users (:mod:`streamt2v.train.assemble`): a model folder's
recommended sampler (``assemble model --sampler``), a refiner folder's recommended enhancer settings
(``assemble refiner --enhance``) and the DDIM options over its noise schedule (``--scheduler-option``),
each checked before anything is loaded or written, as ``generate`` and ``enhance`` would check them.

Their errors name the argument as the caller spells it (:class:`SettingsArg`): ``sampler={'steps': 2000}``
to the Python API, ``--sampler '{"steps": 2000}'`` (as it was typed: the JSON, or the file's name) on the command
line.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import shlex
import typing
from dataclasses import fields
from typing import Any

from streamt2v.arguments import Arg, ArgumentValueError, FlaggedArg, RecipeOption
from streamt2v.typed_values import shown_value, typed_value
from streamt2v.wording import singular_or_plural, unknown_names

logger = logging.getLogger(__name__)


class SettingsArg(Arg):
    """Settings given to an argument as a dict: ``sampler={'steps': 2000}`` to the Python API, on the command
    line the flag and the JSON (``--sampler '{"steps": 2000}'``); a string ``value``: the text typed for the
    flag (the command line's, ``cli.assemble``: inline JSON or a file's name), shown as it is. Always given
    the settings; its flag is that of a JSON setting (``--sampler``, ``--enhance``): ``--scheduler-option``
    (``_FLAGS``) takes KEY=VALUE, whose keys are strings, so the one refusal naming scheduler_overrides so
    (keys that are no strings) is Python's alone."""

    @property
    def flag(self) -> str:
        # an int no float holds in words, as shown_value says it (json.dumps refuses one of 4300 digits)
        typed = self.value if isinstance(self.value, str) else shown_value(self.value, json.dumps)
        return f"--{self.name} {shlex.quote(typed)}"


# The flag of each argument whose flag is not made from its name.
_FLAGS = {"scheduler_overrides": "--scheduler-option"}


class SettingKey(Arg):
    """One setting of a dict argument, ``value`` ``(settings, key)``: ``sampler={'steps': None}: steps`` to the
    Python API (the argument as given, then the key), ``--sampler steps`` on the command line."""

    def __str__(self) -> str:
        settings, key = self.value  # type: ignore[misc]
        # each value as typed values are shown (an int no float holds in words: its digits were hundreds)
        shown = ", ".join(f"{k!r}: {shown_value(v)}" for k, v in settings.items())
        return f"{self.name}={{{shown}}}: {key}"

    @property
    def flag(self) -> str:
        flag = _FLAGS.get(self.name, "--" + self.name.replace("_", "-"))
        return f"{flag} {self.value[1]}"  # type: ignore[index]


class GivenValue(Arg):
    """A value given for a setting of the dict argument ``name``, as each caller wrote it: Python's repr
    (``None``, ``True``, ``'yes'``) to the Python API; on the command line the JSON typed (``null``,
    ``true``, ``"yes"``), ``--scheduler-option``'s as it reads it (a string as it is)."""

    def __str__(self) -> str:
        return shown_value(self.value)

    @property
    def flag(self) -> str:
        if self.name == "scheduler_overrides":
            return RecipeOption.as_set(self.value)
        return shown_value(self.value, json.dumps)


# A config's refusal of one setting's value: "guidance must be >= 0, got -1.0" (the value as the config
# typed it, in Python's words), the value quoted or a word
_ONE_VALUE = re.compile(r"(?P<key>\w+) (?P<rule>.+), got (?P<shown>'[^']*'|\"[^\"]*\"|[^\s;,]+)", re.DOTALL)


def _value_refused(
    arg: str, settings: dict[str, Any], key: str, rule: str, after: str = ""
) -> ArgumentValueError:
    """The refusal of ``settings[key]`` (the dict argument ``arg``'s): ``--sampler steps must be an integer,
    got null`` on the command line, ``sampler={'steps': None}: steps must be ..., got None`` to Python."""
    return ArgumentValueError(
        SettingKey(arg, (settings, key)), f" {rule}, got ", GivenValue(arg, settings[key]), after
    )


def _refusal(arg: str, settings: dict[str, Any], message: str, as_is: Arg) -> ArgumentValueError:
    """``message`` (a config's refusal of ``settings``, given to the argument ``arg``) naming what it refuses
    as each caller spells it: one setting's value by its key and the value as given (``--sampler guidance
    must be >= 0, got -1``: the config said -1.0); else after ``as_is``, the argument as given."""
    if (match := _ONE_VALUE.fullmatch(message)) and match["key"] in settings:
        return _value_refused(arg, settings, match["key"], match["rule"])
    return ArgumentValueError(as_is, f": {message}")


def _refuse_unknown(
    given: dict[Any, Any],
    known: list[str],
    arg: Arg,
    listed: str = "the settings",
    renamed: dict[str, str] | None = None,
) -> None:
    """An :class:`ArgumentValueError` naming the settings of ``given`` (the argument ``arg``'s) that are not
    ``known``, in the order given (:func:`~streamt2v.wording.unknown_names`: a ``renamed`` earlier name hints
    the current one, else a close name), then ``listed`` and the known settings: ``unknown --sampler setting:
    seed; the settings: ...``; a key that is no string (``scheduler_overrides={1: 2}``), naming the argument
    as given."""
    for key in given:
        if not isinstance(key, str):
            raise ArgumentValueError(
                SettingsArg(arg.name, given), f": its keys must be setting names (strings), got {key!r}"
            )
    unknown = [shown for key in given for shown in unknown_names([key], known, renamed=renamed)]
    if unknown:
        noun = singular_or_plural(len(unknown), "setting")
        raise ArgumentValueError(
            "unknown ", arg, f" {noun}: {', '.join(unknown)}; {listed}: {', '.join(known)}"
        )


def checked_sampler(sampler: dict[str, Any] | None, streaming: dict[str, Any]) -> dict[str, Any]:
    """``sampler`` checked by :class:`StreamConfig` itself (names, value types, then values) and a
    ``cond_frames`` it sets against the CAM of the stream UNet whose ``streaming`` config is given
    (generate's default, which does not fit, is a warning); its values as StreamConfig types them (``"true"``
    a bool). Its step counts are checked against the noise schedule by :func:`check_sampler_step_counts`,
    once the parts are known."""
    from streamt2v.pipeline.enhance_config import EARLIER_NAMES
    from streamt2v.pipeline.setting_checks import check_cam_frames
    from streamt2v.pipeline.stream import StreamConfig

    sampler = dict(sampler or {})
    # what a sampler may set: the sampling fields, not the video's length, seed or prompt
    settable = sorted(set(StreamConfig.__dataclass_fields__) - {"num_frames", "seed", "negative_prompt"})
    _refuse_unknown(sampler, settable, Arg("sampler"), renamed=EARLIER_NAMES)
    hints = typing.get_type_hints(StreamConfig)
    for key, value in sampler.items():
        # None is StreamConfig's "the model's": a sampler is the model's, and records values
        if value is None:
            try:
                hint = next((t for t in typing.get_args(hints[key]) if t is not type(None)), hints[key])
                typed_value(None, hint)
            except ValueError as err:
                after = f" (leave {key} out for generate's default)"
                raise _value_refused("sampler", sampler, key, str(err), after) from None
    try:
        # generate's defaults where it sets none (the CAM check below takes its cond_frames)
        config = StreamConfig(num_frames=int(streaming["num_frames"]), **sampler).resolved()
    except ValueError as err:
        raise _refusal("sampler", sampler, str(err), SettingsArg("sampler", sampler)) from None
    try:
        check_cam_frames(config.cond_frames, streaming.get("num_cond_frames"), "the stream UNet's CAM")
    except ValueError as err:
        if "cond_frames" in sampler:  # the sampler's own value
            raise _refusal("sampler", sampler, str(err), SettingsArg("sampler", sampler)) from None
        # generate's default, not the sampler's to answer for (a generate's --cond-frames can set it)
        cam = streaming.get("num_cond_frames")
        logger.warning("generate's default %s: store cond_frames %s with %s", err, cam, Arg("sampler"))
    return {key: getattr(config, key) for key in sampler}


# The step counts of each stage (check_step_counts' two checks): the sampler answers for a stage's refusal
# when it sets one of them.
_STAGE_COUNTS = {1: ("init_steps",), 2: ("steps", "chunk_strength")}


def check_sampler_step_counts(sampler: dict[str, Any], num_frames: int, timesteps: int) -> None:
    """Refuse the step counts ``sampler`` sets that ``generate`` refuses on a noise schedule of ``timesteps``
    (its checks, :func:`check_step_counts`): ``init_steps`` past the schedule (for any video stage 1 makes),
    ``steps`` past what ``chunk_strength`` leaves of it (for any video of more than one chunk); generate's
    defaults for the counts it leaves out are named as such. Where generate's defaults alone do not fit the
    schedule (one trained with fewer timesteps), a warning says to store counts that do."""
    from streamt2v.pipeline.chunking import plan_chunks
    from streamt2v.pipeline.step_counts import check_step_counts
    from streamt2v.pipeline.stream import StreamConfig

    config = StreamConfig(num_frames=num_frames, **sampler).resolved()  # generate's defaults elsewhere
    # a video of two chunks, one of each stage
    plan = plan_chunks(
        config.chunk_frames + 1, chunk_frames=config.chunk_frames, cond_frames=config.cond_frames
    )
    unfit = []  # generate's defaults' refusals
    for stage, counts in _STAGE_COUNTS.items():
        try:
            check_step_counts(config, [spec for spec in plan if spec.stage == stage], timesteps)
        except ValueError as err:
            if not any(k in sampler for k in counts):
                unfit.append(str(err))
                continue
            parts: list[object] = [SettingsArg("sampler", sampler), f": {err}"]
            for k in counts:  # a default in the message is named as one
                if k not in sampler and re.search(rf"\b{k}\b", str(err)):
                    parts += [
                        f"; {k} {getattr(config, k)!r} is generate's default (set it in ",
                        Arg("sampler"),
                        ")",
                    ]
            raise ArgumentValueError(*parts) from None
    if unfit:
        logger.warning(
            "generate's default settings do not fit this model's noise schedule (%s): store counts that do "
            "with %s (a generate's own flags can set them too)",
            "; ".join(unfit),
            Arg("sampler"),
        )


def checked_enhance(enhance: dict[str, Any] | None) -> dict[str, Any]:
    """``enhance`` (a refiner folder's recommended settings) unless :class:`EnhanceConfig` refuses it: an
    unknown name (an earlier one named with ours), or a value; a limit from a setting not given (start_step's
    600 for ``steps`` 2000) is named as the default it is."""
    from streamt2v.pipeline.enhance_config import EARLIER_NAMES, EnhanceConfig
    from streamt2v.pipeline.refiner import explained
    from streamt2v.pipeline.setting_checks import EnhanceSettingError

    enhance = dict(enhance or {})
    _refuse_unknown(
        enhance, sorted(f.name for f in fields(EnhanceConfig)), Arg("enhance"), renamed=EARLIER_NAMES
    )
    try:
        EnhanceConfig(**enhance)
    except EnhanceSettingError as err:
        refusal = _refusal("enhance", enhance, err.message, SettingsArg("enhance", enhance))
        parts = list(refusal.parts)
        for name, (value, source) in explained(err, enhance, {}, "").unset.items():
            parts += [f"; {name} {value!r} is {source} (set it in ", Arg("enhance"), ")"]
        raise ArgumentValueError(*parts) from None
    return enhance


def checked_scheduler_options(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """DDIM options over a refiner's training schedule (``set_alpha_to_one``), typed as DDIMScheduler takes
    them, unless one is unknown to it or of the wrong type."""
    from diffusers import DDIMScheduler

    overrides = dict(overrides or {})
    params = dict(inspect.signature(DDIMScheduler.__init__).parameters)
    params.pop("self", None)
    arg = FlaggedArg("scheduler_overrides", flag=_FLAGS["scheduler_overrides"])
    _refuse_unknown(overrides, sorted(params), arg, "the settings (DDIMScheduler's options)")
    for key, value in overrides.items():  # a value of the wrong type was stored and broke sampling later
        hint = params[key].annotation
        if typing.get_origin(hint) is typing.Literal:
            if value not in typing.get_args(hint):
                rule = f"must be one of {', '.join(map(str, typing.get_args(hint)))}"
                raise _value_refused("scheduler_overrides", overrides, key, rule)
            continue
        try:
            overrides[key] = typed_value(value, hint)
        except ValueError as err:
            raise _value_refused("scheduler_overrides", overrides, key, str(err)) from None
    return overrides
