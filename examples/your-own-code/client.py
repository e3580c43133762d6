"""A tiny client: get_json fetches a page through the transport it is given.

asyncparity hands it the scenario's world as that transport (spec/LANGUAGE.md, "Your
own code"); in production it would be a real HTTP client with the same method.
"""

import asyncio


async def get_json(api, url):
    failure = None
    for attempt in range(3):
        try:
            return await api.fetch_page(url)
        except Exception as error:  # noqa: BLE001 - a failed attempt is retried
            failure = error
            api.log(f"attempt {attempt + 1} failed: {error.message}")
            await asyncio.sleep(0.1 * 2**attempt)
    raise failure
