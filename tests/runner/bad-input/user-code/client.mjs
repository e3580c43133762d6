export async function getJson(api, url) { const b = await api.fetch(url); api.log('got ' + b); return b; }
