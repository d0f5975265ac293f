"""Trainable: the base that every Program has, through :class:`~synaplex.training.trainer.Trainer`.

Programs sit above training, yet a reward can score with a whole program
(:class:`~synaplex.training.rewards.ProgramAsJudge`): it tells a program from any other object
by this base, which imports nothing (``Trainer`` imports the rewards).
"""


class Trainable:
    """What a Trainer trains: the base of :class:`~synaplex.training.trainer.Trainer`, and so of
    every ``synaplex.Program``."""

    __slots__ = ()
