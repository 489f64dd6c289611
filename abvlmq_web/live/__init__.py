"""Live scanning practice (issue 34): the scanner's video in the browser, the plane and a
quality meter while the probe moves, the best frame captured through the normal upload.

- ``/live/``: the page (``templates/live/live.html``, ``static/js/live.js``): pick a video
  source, mark the image area once, watch the plane, the meter and the key structures;
  Capture (button, space bar, or automatic on an assignment's target plane).
- ``/ws/live/``: the socket the page sends its frames on (``consumers.LiveConsumer``).
- ``/live/watch/<resident id>/`` and ``/ws/live/watch/<id>/``: an instructor of her cohort
  watches read-only.

The fast path itself is ``scoring.live`` (no Django); ``scorer`` holds it in the web process.
Frames are scored in memory and never stored; nothing here has a table. Nothing below this app
imports it.
"""
