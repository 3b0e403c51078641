"""Training recipes: what each model of the system learns from (paper §4 and appendix; DESIGN.md §6).

- ``vae``: the frame autoencoder (:mod:`streamt2v.train.vae_recipe`);
- ``clip``: micro-CLIP, the text encoder, APM image encoder and CLIP-score model
  (:mod:`streamt2v.train.clip_recipe`);
- ``base``, ``stream``, ``refiner``: the video UNets of stages 1, 2 and 3
  (:mod:`streamt2v.train.video_recipes`, :mod:`~streamt2v.train.stream_recipe`,
  :mod:`~streamt2v.train.refiner_recipe`).

This module holds what they share (where samples come from, sample videos) and the registry.
Each recipe is a dataclass of its model/data settings (saved in every checkpoint), with ``build()``
(a module whose ``forward(batch, generator)`` returns ``(loss, logs)``), ``dataset(seed)``,
``sample_inputs()`` (what its sample videos show, made once per run), ``sample(...)`` and ``export(...)``
(writes loadable ``save_pretrained`` folders under ``final/``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

import numpy as np
import torch
from torch.utils.data import Dataset

from streamt2v.arguments import NAME_ONLY, Arg, ArgumentValueError, RecipeOption
from streamt2v.io.folders import named_path
from streamt2v.microworld.dataset import ClipSpec, MicroworldDataset
from streamt2v.microworld.render import FPS
from streamt2v.train.word_tokenizer import caption_words
from streamt2v.typed_values import is_finite, is_number, shown_number, typed_value
from streamt2v.wording import close_name, words_as_typed

logger = logging.getLogger(__name__)

# Recipe options that name a file or folder (``data`` unless it is ``"microworld"``). A run records them
# absolute (:func:`streamt2v.train.resume_settings.recorded_recipe_config`), so ``assemble`` and
# ``train --resume`` read its record from any working folder; the recipe itself keeps them as given, and
# each is read where it is used (``frozen.need_dir``, ``data.VideoFolderDataset``, ``captions.caption_rows``,
# which expand ``~``), so that their refusals name them so (``vae='~/v' ('/home/me/v')``).
PATH_OPTIONS: tuple[str, ...] = (
    "data",
    "captions",
    "vae",
    "clip",
    "base_unet",
    "init_unet",
    "decoder_only_from",
    "degrade_vae",
)


# The recipe options with a flag of their own on the command line (``cli/train.py``'s table): the others are
# set there by ``--set KEY=VALUE``.
FLAGGED_OPTIONS: tuple[str, ...] = (
    "data",
    "captions",
    "size",
    "num_frames",
    "preset",
    "vae",
    "clip",
    "base_unet",
)


# Recipe options by their earlier names: given now, the name is refused naming the current one; a run that
# recorded it is compared by the current one (train --resume, resume_settings.check_resumed_config). The
# sample videos' guidance is named as the sampler's (guidance), beside sample_steps.
EARLIER_OPTION_NAMES = {"guidance_scale": "sample_guidance"}


def option_arg(name: str, value: object = NAME_ONLY) -> Arg:
    """Recipe option ``name`` (given ``value``) as an error names it: ``max_start=-1`` to a Python caller;
    on the command line its flag (``--size 8``), or ``--set max_start=-1`` for an option without one."""
    return (Arg if name in FLAGGED_OPTIONS else RecipeOption)(name, value)


def is_path_option(key: str, value: Any) -> bool:
    """Whether recipe option ``key`` with ``value`` names a file or folder (not unset, not the microworld)."""
    return (
        key in PATH_OPTIONS
        and isinstance(value, str)
        and value != ""
        and not (key == "data" and value == "microworld")
    )


def name_shipped_parts(recipe: Any) -> None:
    """``microworld`` for a part of the shipped models as its folder (``frozen.shipped_part``:
    ``clip="microworld"``), which the run records and ``assemble`` reads. The other paths stay as given (a
    leading ``~`` is expanded at use); a run records every path expanded
    (``resume_settings.recorded_recipe_config``). For ``__post_init__``."""
    from streamt2v.train.frozen import shipped_part

    for key in PATH_OPTIONS:
        shipped = shipped_part(key, getattr(recipe, key, None), getattr(recipe, "name", ""))
        if shipped is not None:
            setattr(recipe, key, shipped)


# The seed of the samples a run's sample videos show (new scenes on the microworld, other clips of a folder).
SAMPLE_SEED = 12345


@dataclass
class SampleInputs:
    """What a recipe's sample hook shows (:meth:`DataOptions.held_aside`), made once per run: ``items``,
    samples of a fixed draw, and ``fps``, the frame rate its sample videos are written at (the training
    videos': a sample of 24 fps videos played at the microworld's 8 fps ran three times too slow)."""

    items: list[dict[str, Any]]
    fps: int


@dataclass
class DataOptions:
    """Where samples come from: ``"microworld"`` or a folder of videos with a captions file."""

    data: str = "microworld"
    captions: str | None = None
    size: int = 32  # frame size (pixels, square)
    # the videos' frame rate as make_dataset's check read them (not an option: no field, not in config())
    _checked_frame_rate: ClassVar[int | None] = None

    def make_dataset(
        self, spec: ClipSpec, seed: int, progress: bool = False, *, check: bool = True
    ) -> Dataset:
        """``progress``: bars for slow preparation (checking a large folder of videos). A folder of videos is
        checked (its advice for videos too short: :meth:`short_videos_advice`) and its frame rate recorded;
        ``check=False`` leaves the check out, for a dataset of the same videos made after one checked."""
        if spec.size != self.size:
            raise ValueError(f"clip size {spec.size} != data size {self.size}")
        if self.data == "microworld":
            if self.captions is not None:  # else the run would quietly train on the microworld
                from streamt2v.train.frozen import as_given

                raise ArgumentValueError(
                    as_given(self.captions, Arg("captions")),
                    " needs ",
                    Arg("data"),
                    ", the folder of the videos it captions",
                )
            return MicroworldDataset(spec, seed)
        from streamt2v.train.data import VideoFolderDataset

        dataset = VideoFolderDataset(self.data, self.captions_file(), spec, seed=seed)
        if check:  # every video readable and long enough, before the first step
            dataset.check(progress, *self.short_videos_advice())
            self._checked_frame_rate = dataset.frame_rate()  # the rates the check read: no file opened again
        return dataset

    def short_videos_advice(self) -> tuple[Arg, int]:
        """What the check of a folder whose videos are all too short for a clip advises: the recipe's option
        that sets its clips' frames, and the fewest frames a clip of the recipe holds."""
        from streamt2v.train.data import NUM_FRAMES

        return NUM_FRAMES, 1

    def folder_checked(self) -> bool:
        """Whether :meth:`make_dataset` checked the folder of videos (always true of the microworld): a run
        checks its training clips', unless it was given a dataset of its own (``train(dataset=...)``)."""
        return self.data == "microworld" or self._checked_frame_rate is not None

    def held_aside(self, spec: ClipSpec, count: int) -> SampleInputs:
        """The first ``count`` samples of ``spec`` of a fixed draw (:data:`SAMPLE_SEED`) and the frame rate
        to write them at: what a run's sample videos show, made once per run. The folder is checked here
        only when it was not (a run given its own dataset): the run's training clips, of the same spec,
        are checked before its first step."""
        dataset = self.make_dataset(spec, SAMPLE_SEED, check=not self.folder_checked())
        return SampleInputs([dataset[i] for i in range(count)], self.training_frame_rate() or FPS)

    def captions_file(self) -> str:
        """The captions file of ``--data FOLDER``, refused when none is given."""
        if self.captions is None:
            from streamt2v.train.captions import CAPTION_FORMATS

            raise ArgumentValueError(
                Arg("data"),
                f" {named_path(self.data)} is a folder: pass ",
                Arg("captions"),
                f", its captions file ({CAPTION_FORMATS})",
            )
        return self.captions

    def training_frame_rate(self) -> int | None:
        """The frame rate a model of these samples is made at (``assemble --fps``), which a run records when
        it makes its dataset: most of a folder's captioned videos' (rounded), as the check of the dataset
        made last read them (the videos are read for it only when none was made); None on the microworld
        (assemble's default is its rate)."""
        if self.data == "microworld" or self.captions is None:
            return None
        if self._checked_frame_rate is not None:
            return self._checked_frame_rate
        from streamt2v.train.data import training_frame_rate

        return training_frame_rate(self.data, self.captions)

    def check_caption_words(self, tokenizer: Any, warn_above: float = 0.05) -> float:
        """The share of the captions' words ``tokenizer`` reads as unknown (0 on the microworld), with a
        warning naming some of them above ``warn_above``: a text encoder trained on other captions (e.g.
        the microworld's micro-CLIP on real videos) would condition on ``<unk>``."""
        if self.data == "microworld" or self.captions is None or tokenizer.unk_token_id is None:
            return 0.0
        from streamt2v.train.captions import read_captions

        words = [w for text in read_captions(self.captions).values() for w in caption_words(text)]
        # each distinct word through the tokenizer itself (a BPE tokenizer's vocabulary holds "dog</w>")
        unknown = {
            w
            for w in set(words)
            if tokenizer.unk_token_id in tokenizer(w, add_special_tokens=False).input_ids
        }
        share = sum(w in unknown for w in words) / max(len(words), 1)
        if share > warn_above:
            examples = sorted(unknown)[:8]
            logger.warning(
                "%.0f%% of the caption words in %s are unknown to the text encoder's tokenizer (e.g. %s): "
                "train micro-CLIP on these captions (`streamt2v train clip --data ... --captions ...`)",
                100 * share,
                named_path(self.captions),
                words_as_typed(examples),
            )
        return share

    def check_caption_lengths(self, tokenizer: Any, max_length: int) -> int:
        """How many captions ``tokenizer`` makes longer than ``max_length`` tokens (its special tokens
        included; training cuts them to that length), with a warning naming the longest: a caption's end
        would otherwise be dropped without a word."""
        if self.data == "microworld" or self.captions is None:
            return 0
        from streamt2v.train.captions import read_captions

        captions = read_captions(self.captions)  # never empty: an empty captions file is refused
        # verbose=False: else transformers warns that such a sequence "will result in indexing errors",
        # untrue of a count (training cuts the captions to max_length)
        tokens = tokenizer(list(captions.values()), verbose=False).input_ids
        lengths = dict(zip(captions, map(len, tokens)))
        long = {name: n for name, n in lengths.items() if n > max_length}
        if long:
            longest = max(long, key=long.__getitem__)
            logger.warning(
                "%d of %d captions in %s are longer than the text encoder's %d tokens and are cut to them "
                "in training (the longest, of %r, has %d tokens)",
                len(long),
                len(captions),
                named_path(self.captions),
                max_length,
                longest,
                long[longest],
            )
        return len(long)


def check_frames_per_sample(value: object) -> None:
    """The ``frames_per_sample`` option of the image recipes (vae, clip), named as the option is: the clip
    it becomes (``ClipSpec``) would call it ``num_frames``, the video recipes' flag."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentValueError(option_arg("frames_per_sample"), f" must be an int ≥ 1, got {value!r}")


def check_at_least(recipe: object, least: float, *names: str, meaning: str = "") -> None:
    """Each option ``names`` of ``recipe`` a finite number ≥ ``least``, else one error naming the option and
    its value (``meaning``: what the bound means, e.g. ``" (0 = off)"``). A value only read when samples or
    the export are written (``sample_steps``, ``scaling_samples``) otherwise failed after the steps, with the
    library's words, and a resume that corrected it was refused as another recipe."""
    for name in names:
        value = getattr(recipe, name)
        if isinstance(value, np.generic) and is_number(value):  # np.int64(2): a plain number, as JSON takes
            value = value.item()
            setattr(recipe, name, value)
        # not a number: VAERecipe(kl_weight="1e-4"); not finite: an int too large for a float failed in math
        if not (is_number(value) and is_finite(value) and value >= least):
            kind = "" if is_number(value) and is_finite(value) else "a finite number "
            raise ArgumentValueError(
                f"{recipe.name} option ",
                option_arg(name),
                f" must be {kind}≥ {least}{meaning}, got {shown_number(value)}",
            )


def write_sample(path: Path, video: torch.Tensor, fps: int, caption: str) -> None:
    """Write a sample video of a training run (values in [-1, 1]) at ``fps`` (:class:`SampleInputs`'),
    replacing the run's own of that step: a resumed run writes its checkpoint's samples again (the train
    loop). ``caption``, the held-aside clip's (the prompt of a sample made from noise), goes beside it as
    ``NAME.txt``, first: a video is never found without the caption that tells what it shows."""
    from streamt2v.io.folders import atomic_write_file
    from streamt2v.io.video import write_video

    atomic_write_file(path.with_suffix(".txt"), lambda tmp: tmp.write_text(caption + "\n", encoding="utf-8"))
    write_video(path, video.detach().float().cpu().clamp(-1, 1), fps=fps, overwrite=True)


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
def recipe_classes() -> dict[str, type]:
    from streamt2v.train.clip_recipe import ClipRecipe
    from streamt2v.train.refiner_recipe import RefinerRecipe
    from streamt2v.train.stream_recipe import StreamRecipe
    from streamt2v.train.vae_recipe import VAERecipe
    from streamt2v.train.video_recipes import BaseRecipe

    return {
        "vae": VAERecipe,
        "clip": ClipRecipe,
        "base": BaseRecipe,
        "stream": StreamRecipe,
        "refiner": RefinerRecipe,
    }


RECIPES: tuple[str, ...] = ("vae", "clip", "base", "stream", "refiner")


def make_recipe(name: str, /, **options: Any) -> Any:
    """Build recipe ``name`` with ``options`` (its dataclass fields); an unknown name, or a value that is
    not of its option's type, raises ValueError. Options from text (``--set x0_loss=false``) may spell a
    boolean as true/false and a tuple as a list."""
    classes = recipe_classes()
    if name not in classes:
        hint = f" ({close}?)" if (close := close_name(str(name), RECIPES)) else ""
        raise ValueError(f"unknown recipe {name!r}{hint}; choose one of {', '.join(RECIPES)}")
    cls = classes[name]
    bad = sorted(set(options) - set(recipe_options(cls)))
    if bad:
        parts: list[object] = [f"recipe {name!r} takes no "]
        unread = getattr(cls, "unread_options", {})
        for i, key in enumerate(bad):
            parts += [", " if i else "", option_arg(key)]
            current = EARLIER_OPTION_NAMES.get(key)
            if current in recipe_options(cls):
                parts += [" (now ", option_arg(current), ")"]
            elif key in unread or current in unread:  # by its earlier name too: the current one is refused
                parts.append(f" ({unread.get(key) or unread[current]})")
            elif current is not None:  # another recipe's, by its earlier name
                parts += [" (now ", option_arg(current), f", {_whose(current, classes)})"]
            elif any(key in recipe_options(other) for other in classes.values()):
                parts.append(f" ({_whose(key, classes)})")
            elif close := close_name(key, recipe_options(cls)):  # a misspelling
                parts += [" (", option_arg(close), "?)"]
            else:
                parts.append(" (no recipe's option)")
        raise ArgumentValueError(*parts, "; its options: ", _OptionsOf(name))
    hints = get_type_hints(cls)
    return cls(**{k: _typed_option(name, k, v, hints[k]) for k, v in options.items()})


def refuse_unread_options(recipe: Any) -> None:
    """Refuse an option of ``recipe`` that it inherits and does not read (its class's ``unread_options``) set
    to other than its default, as :func:`make_recipe` refuses the option given at all: a recipe made
    directly (``StreamRecipe(sample_guidance=3)``) took it without a word."""
    defaults = {f.name: f.default for f in fields(recipe)}
    for key, why in getattr(recipe, "unread_options", {}).items():
        if getattr(recipe, key) != defaults[key]:
            raise ArgumentValueError(f"recipe {recipe.name!r} takes no ", option_arg(key), f" ({why})")


def recipe_options(cls: type) -> list[str]:
    """The options of recipe class ``cls``, sorted: its dataclass fields but ``name`` and those it inherits
    and does not read (its ``unread_options``: the stream's ``sample_guidance``)."""
    unread = getattr(cls, "unread_options", {})
    return sorted(f.name for f in fields(cls) if f.name != "name" and f.name not in unread)


def _whose(key: str, classes: dict[str, type]) -> str:
    """Which recipes take option ``key``: ``"an option of the stream recipe"``, ``"... of the base, stream and
    refiner recipes"``, ``"no recipe's option"``."""
    takers = [name for name, cls in classes.items() if key in recipe_options(cls)]
    if not takers:
        return "no recipe's option"
    if len(takers) == 1:
        return f"an option of the {takers[0]} recipe"
    return f"an option of the {', '.join(takers[:-1])} and {takers[-1]} recipes"


class _OptionsOf(Arg):
    """The options of recipe ``name`` as each caller gives them: their names to Python, on the command line
    the flags and then the options ``--set`` takes."""

    def __str__(self) -> str:
        return ", ".join(recipe_options(recipe_classes()[self.name]))

    @property
    def flag(self) -> str:
        names = recipe_options(recipe_classes()[self.name])
        flags = [option_arg(n).flag for n in FLAGGED_OPTIONS if n in names]
        others = ", ".join(n for n in names if n not in FLAGGED_OPTIONS)
        return f"{', '.join(flags)}, and by --set KEY=VALUE {others}"


def _typed_option(recipe: str, key: str, value: Any, hint: Any) -> Any:
    try:
        return typed_value(value, hint)
    except ValueError as err:
        raise ArgumentValueError(f"recipe {recipe!r} option ", option_arg(key, value), f" {err}") from None
