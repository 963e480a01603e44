"""The suite: prompt, case and config files read into typed objects, checked, rendered."""
