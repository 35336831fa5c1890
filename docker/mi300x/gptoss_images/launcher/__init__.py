# GENERATED FILE: do not edit. Copied from gptoss_images/launcher/__init__.py. Regenerate: python build.py render

