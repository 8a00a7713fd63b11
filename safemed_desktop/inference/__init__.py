"""Local inference through llama.cpp (no Qt). See ``engine.Engine``."""
