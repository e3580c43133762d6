// A tiny client: getJson fetches a page through the transport it is given.
// asyncparity hands it the scenario's world as that transport (spec/LANGUAGE.md,
// "Your own code"); in production it would be a real HTTP client with the same method.

export async function getJson(api, url) {
  let failure;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await api.fetchPage(url);
    } catch (error) {
      failure = error;
      api.log(`attempt ${attempt + 1} failed: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
  throw failure;
}
