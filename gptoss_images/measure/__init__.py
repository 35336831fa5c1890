"""What an image serves, measured from inside it: gptoss-bench (speed) and gptoss-eval (accuracy).

Standard library and the launcher only: these run in the image, beside gptoss-serve.
"""
