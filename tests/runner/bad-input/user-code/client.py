async def get_json(api, url):
    body = await api.fetch(url)
    api.log(f"got {body}")
    return body
