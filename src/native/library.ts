/**
 * Locates and loads the prebuilt llama.cpp shared libraries shipped by the
 * `@node-llama-cpp/<platform>` packages (pinned with node-llama-cpp 3.21.1).
 *
 * `--device cpu|cuda|vulkan` picks the package; the same binding code drives all of them.
 * @module
 */
import { createRequire } from "node:module";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import koffi, { type LibraryHandle } from "koffi";

export type DeviceKind = "cpu" | "cuda" | "vulkan";
export const DEVICE_KINDS: readonly DeviceKind[] = ["cpu", "cuda", "vulkan"];

const PACKAGE_BY_DEVICE: Record<DeviceKind, string> = {
  cpu: "@node-llama-cpp/linux-x64",
  cuda: "@node-llama-cpp/linux-x64-cuda",
  vulkan: "@node-llama-cpp/linux-x64-vulkan",
};

/**
 * The package with llama.cpp's prebuilt libraries for `device` on this CPU. On arm64 (Graviton) the
 * CPU build of `@node-llama-cpp/linux-arm64`, which npm installs with node-llama-cpp (one of its
 * optional dependencies, in package-lock.json at 3.21.1); GPU builds are x64 only.
 */
export function libraryPackage(device: DeviceKind, arch: string = process.arch): string {
  if (arch === "arm64") {
    if (device !== "cpu")
      throw new Error(`--device ${device} needs linux-x64 (llama.cpp's ${device} build); on linux-arm64 use --device cpu`);
    return "@node-llama-cpp/linux-arm64";
  }
  return PACKAGE_BY_DEVICE[device];
}

export interface LibraryFiles {
  readonly device: DeviceKind;
  readonly binDir: string;
  readonly libllama: string;
  readonly libggml: string;
}

/** Finds the binaries folder of the package for `device`; throws a clear error when it is not installed. */
export function resolveLibraryFiles(device: DeviceKind): LibraryFiles {
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) {
    throw new Error(`herd runs on linux-x64 and linux-arm64 only (this is ${process.platform}-${process.arch})`);
  }
  const pkg = libraryPackage(device);
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = dirname(dirname(require.resolve(pkg))); // <pkg>/dist/index.js → <pkg>
  } catch {
    throw new Error(`--device ${device} needs the npm package ${pkg}@3.21.1, which is not installed (npm install ${pkg}@3.21.1)`);
  }
  const binsRoot = join(pkgDir, "bins");
  const sub = readdirSync(binsRoot).find((d) => existsSync(join(binsRoot, d)));
  if (!sub) throw new Error(`${pkg} has no bins/ folder`);
  const binDir = join(binsRoot, sub);
  const files = readdirSync(binDir);
  // Names carry the release (libllama.v0.4.0.so, libllama.vulkan.v0.4.0.so): resolve, never hard-code.
  const libllama = files.find((f) => /^libllama\..*\.so$/.test(f) && !f.includes("common"));
  const libggml = files.find((f) => /^libggml\.(?!base).*\.so$/.test(f));
  if (!libllama || !libggml) throw new Error(`${binDir} lacks libllama/libggml shared libraries`);
  return { device, binDir, libllama: join(binDir, libllama), libggml: join(binDir, libggml) };
}

export interface LoadedLibraries {
  readonly files: LibraryFiles;
  readonly llama: LibraryHandle;
  readonly ggml: LibraryHandle;
}

let loaded: LoadedLibraries | undefined;

/**
 * Loads libggml + libllama once per process and registers the backends of their folder
 * (`GGML_BACKEND_DL` builds put the CPU backend in `libggml-cpu-<variant>.so`).
 */
export function loadLibraries(device: DeviceKind): LoadedLibraries {
  if (loaded) {
    if (loaded.files.device !== device) {
      throw new Error(`llama.cpp is already loaded for device ${loaded.files.device}; one device per process`);
    }
    return loaded;
  }
  const files = resolveLibraryFiles(device);
  const ggml = koffi.load(files.libggml);
  const llama = koffi.load(files.libllama);
  ggml.func("void ggml_backend_load_all_from_path(const char *dir)")(files.binDir);
  llama.func("void llama_backend_init(void)")();
  loaded = { files, llama, ggml };
  return loaded;
}
