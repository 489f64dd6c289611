"""Names several apps agree on."""

# The model id of analyses from before non-scans were refused at upload: such rows are no
# assessment of a scan, so reviews, progress and examples leave them out.
NOT_ULTRASOUND_MODEL = "intake-screen"
