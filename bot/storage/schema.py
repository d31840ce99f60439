"""Every table of the bot, imported in one place so that migrations and tests
see the complete schema."""

from bot.storage import broadcast_models, complaint_models, console_models, models, training_models  # noqa: F401
from bot.storage.models import Base

metadata = Base.metadata
