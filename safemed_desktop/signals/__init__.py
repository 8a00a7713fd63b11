"""Clinical Trust Signals (no Qt): rules and classifiers that judge a question and its answer."""
