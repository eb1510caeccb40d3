import { describe, expect, it } from "vitest";
import { FsBlobStore } from "./fs-store.js";
import { S3BlobStore } from "./s3-store.js";
import { joinStoreLocation, openBlobStore, parseS3Url, resolveS3Settings } from "./store-url.js";

describe("S3 settings", () => {
  it("defaults to AWS with SDK checksums and virtual-host URLs", () => {
    expect(resolveS3Settings({}, {})).toEqual({ region: "us-east-1", forcePathStyle: false, checksum: "when_supported" });
  });

  it("a custom endpoint from the environment turns on path style and when_required checksums", () => {
    expect(resolveS3Settings({}, { AWS_ENDPOINT_URL: "http://127.0.0.1:7480", AWS_DEFAULT_REGION: "eu-west-1" })).toEqual({
      endpoint: "http://127.0.0.1:7480",
      region: "eu-west-1",
      forcePathStyle: true,
      checksum: "when_required",
    });
  });

  it("flags win over the environment; AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL; keys in env become credentials", () => {
    const env = {
      AWS_ENDPOINT_URL: "http://a",
      AWS_ENDPOINT_URL_S3: "http://b",
      AWS_REGION: "r1",
      HERD_S3_FORCE_PATH_STYLE: "false",
      HERD_S3_CHECKSUM: "when_supported",
      AWS_ACCESS_KEY_ID: "K",
      AWS_SECRET_ACCESS_KEY: "S",
    };
    expect(resolveS3Settings({}, env)).toEqual({
      endpoint: "http://b",
      region: "r1",
      forcePathStyle: false,
      checksum: "when_supported",
      credentials: { accessKeyId: "K", secretAccessKey: "S" },
    });
    expect(resolveS3Settings({ endpoint: "http://c", region: "r2", forcePathStyle: true, checksum: "when_required" }, env)).toMatchObject({
      endpoint: "http://c",
      region: "r2",
      forcePathStyle: true,
      checksum: "when_required",
    });
  });

  it("rejects bad values with the setting's name", () => {
    expect(() => resolveS3Settings({ checksum: "always" }, {})).toThrow(/checksum mode must be one of when_required, when_supported/);
    expect(() => resolveS3Settings({}, { HERD_S3_FORCE_PATH_STYLE: "maybe" })).toThrow(/HERD_S3_FORCE_PATH_STYLE must be true or false/);
  });
});

describe("store locations", () => {
  it("parses s3:// URLs and opens the right store", async () => {
    expect(parseS3Url("s3://bucket")).toEqual({ bucket: "bucket", prefix: "" });
    expect(parseS3Url("s3://bucket/a/b/")).toEqual({ bucket: "bucket", prefix: "a/b" });
    expect(() => parseS3Url("s3:///x")).toThrow(/not an S3 URL/);
    const s3 = openBlobStore("s3://bucket/p", { region: "us-east-1" });
    expect(s3).toBeInstanceOf(S3BlobStore);
    expect(s3.location).toBe("s3://bucket/p");
    await s3.close();
    expect(openBlobStore("/tmp/x")).toBeInstanceOf(FsBlobStore);
    expect(() => openBlobStore("gs://bucket/x")).toThrow(/unsupported store URL/);
    expect(joinStoreLocation("s3://b/p/", "name")).toBe("s3://b/p/name");
  });
});
