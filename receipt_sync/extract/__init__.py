"""Receipt detection and field extraction, English and Hebrew, from mail bodies and PDF attachments."""
