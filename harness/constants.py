"""Constants shared by every stage. Defined once here."""

IGNORE_INDEX = -100  # label id that the loss, scoring and ranking skip (HF convention)
