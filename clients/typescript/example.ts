/**
 * The typed client against a running API: sign up, sign in as a client without cookies does
 * (the refresh token in the body), publish a post, read the author's page of posts with its
 * ETag and again with If-None-Match (a 304), and trade the refresh token for a new pair.
 *
 *     node dist/example.js http://127.0.0.1:8000 [USERNAME]
 *
 * An unexpected answer ends it with an error and exit code 1.
 */
import { bearerAuth, createApiClient } from "./src/index.js";

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8000";
const username = process.argv[3] ?? `ts${Date.now().toString(36)}`;
const password = "correct-horse-1";

function fail(step: string, result: { response: Response; error?: unknown }): never {
  throw new Error(`${step}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
}

const anonymous = createApiClient(baseUrl);
let accessToken: string | undefined;
const signedIn = createApiClient(baseUrl);
signedIn.use(bearerAuth(() => accessToken));

const registered = await anonymous.POST("/api/v1/user", {
  body: { name: "Ada Lovelace", username, email: `${username}@example.com`, password },
});
if (!registered.data) fail("sign up", registered);
console.log(`signed up: ${registered.data.username}`);

const login = await anonymous.POST("/api/v1/login", {
  params: { query: { token_delivery: "body" } },
  body: { username, password },
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
if (!login.data?.refresh_token) fail("sign in", login);
accessToken = login.data.access_token;
let refreshToken = login.data.refresh_token;
console.log(`signed in: access token for ${login.data.expires_in} s, refresh token in the body`);

const created = await signedIn.POST("/api/v1/{username}/post", {
  params: { path: { username } },
  body: { title: "Hello", text: "Written with the typed client." },
});
if (!created.data) fail("publish a post", created);
console.log(`published post ${created.data.id}: ${created.data.title}`);

const posts = { params: { path: { username } } };
const page = await anonymous.GET("/api/v1/{username}/posts", posts);
const etag = page.response.headers.get("ETag");
if (!page.data || etag === null) fail("read the posts", page);
console.log(`posts page: ${page.data.data.length} post(s), ETag ${etag}`);

const again = await anonymous.GET("/api/v1/{username}/posts", {
  ...posts,
  headers: { "If-None-Match": etag },
});
if (again.response.status !== 304) fail("read the posts again with If-None-Match", again);
console.log("posts page again with If-None-Match: 304 Not Modified");

const refreshed = await anonymous.POST("/api/v1/refresh", {
  body: { refresh_token: refreshToken },
});
const next = refreshed.data?.refresh_token;
if (!refreshed.data || !next || next === refreshToken) fail("refresh", refreshed);
accessToken = refreshed.data.access_token;
refreshToken = next;
console.log("refreshed: a new access token and a new refresh token, in the body");

const me = await signedIn.GET("/api/v1/user/me/");
if (me.data?.username !== username) fail("read my account with the new access token", me);
console.log(`the new access token reads the account of ${me.data.username}`);
