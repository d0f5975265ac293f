"""``reasoning_effort``: one neutral setting, said the way each provider takes it.

``reasoning_effort`` is one of :data:`EFFORTS` (Synalinks' values) or ``None``:

* ``None`` and ``"none"`` send nothing: the model reasons as its provider does by default;
* ``"minimal"``, ``"low"``, ``"medium"``, ``"high"`` ask for that much reasoning;
* ``"disable"`` turns reasoning off where it is on by default (Gemini 2.5 Flash), and sends
  nothing where models only reason when asked (Anthropic).

What goes on the wire is data: the provider profile names a :class:`ReasoningStyle`
(:data:`~synaplex.lm.profiles.REASONING_STYLES`), per model where models differ. Where a
provider or model has no reasoning setting (the embedded model, the scripted LM, a model
that does not reason), or cannot take the effort asked for, the setting is not sent and a
warning says so, once per language model: never a silent drop.
"""

from __future__ import annotations

import copy
import logging
import warnings

from synaplex.backend.errors import InvalidInputError
from synaplex.lm.profiles import REASONING_STYLES, ProviderProfile

_log = logging.getLogger("synaplex.lm")

#: The accepted values of ``reasoning_effort`` (besides ``None``).
EFFORTS = ("minimal", "low", "medium", "high", "disable", "none")


class ReasoningEffortIgnoredWarning(UserWarning):
    """A ``reasoning_effort`` was not sent: the model has no such setting (see the message)."""


def check_effort(value, where: str = "reasoning_effort"):
    """``value`` when it is a valid effort (or ``None``); else :class:`InvalidInputError`."""
    if value is not None and (not isinstance(value, str) or value not in EFFORTS):
        raise InvalidInputError(
            f"{where} must be one of {', '.join(repr(e) for e in EFFORTS)} or None, got {value!r:.60}.")
    return value


def apply_effort(params: dict, profile: ProviderProfile, model: str, warned: set) -> None:
    """Replace ``params["reasoning_effort"]`` by the provider's own parameters, in place.

    ``warned`` holds the warnings already given by this language model (each is given once).
    """
    effort = check_effort(params.pop("reasoning_effort", None))
    if effort is None or effort == "none":
        return
    style = REASONING_STYLES.get(profile.reasoning) if profile.reasoning else None
    if style is None:
        _warn_once(warned, ("no-setting", effort),
                   f"{model} has no reasoning setting (synaplex's profile of {profile.name!r} maps none for "
                   f"this model), so reasoning_effort={effort!r} is not sent. Remove it, or use a model that "
                   "reasons (ChainOfThought's 'thinking' field reasons on any model).")
        return
    fields = style.efforts.get(effort)
    if fields is None:
        takes = ", ".join(repr(e) for e in style.efforts)
        _warn_once(warned, ("no-effort", effort),
                   f"{model} cannot take reasoning_effort={effort!r} (it takes {takes}), so it is not sent and "
                   "the model reasons as its provider does by default.")
        return
    if not fields:  # already so: nothing to send
        return
    for key, value in fields.items():
        params.setdefault(key, copy.deepcopy(value))  # a provider parameter given explicitly wins
    for key in style.conflicting_params & params.keys():
        if params[key] is not None:
            _log.debug("%s: %s is not sent while the model reasons (the provider refuses it)", model, key)
        del params[key]
    if not style.forced_tool_choice and (params.get("tool_choice") == "required"
                                         or isinstance(params.get("tool_choice"), dict)):
        _log.debug("%s: a tool cannot be forced while the model reasons: tool_choice 'auto'", model)
        params["tool_choice"] = "auto"


def _warn_once(warned: set, key: tuple, message: str) -> None:
    if key in warned:
        return
    warned.add(key)
    warnings.warn(message, ReasoningEffortIgnoredWarning, stacklevel=4)
