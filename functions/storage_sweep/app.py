def handler(event, context):  # placeholder
    return None
