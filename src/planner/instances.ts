/**
 * EC2 instance catalog: accelerators, cores, memory per device and per node, and where each number
 * comes from. The Helm chart's device counts, tensor-parallel degree and node selector are taken from
 * here (by `herd deploy`), never computed in templates; `values.schema.json` is generated from it.
 *
 * Units: `memoryPerDeviceBytes` and `nodeMemoryBytes` are bytes. AWS states GPU memory in decimal GB
 * as printed by the vendor and host memory in GiB.
 * @module
 */

export type Accelerator = "neuron" | "nvidia" | "cpu";

export interface InstanceType {
  readonly name: string;
  readonly accelerator: Accelerator;
  /** Device model ("Trainium2", "H100 80GB", …); "" for CPU instances. */
  readonly deviceName: string;
  /** Devices the device plugin exposes on one node (`aws.amazon.com/neuron` or `nvidia.com/gpu`); 0 for CPU. */
  readonly devices: number;
  /**
   * Cores a tensor-parallel rank runs on, per device: logical NeuronCores (Trn2 at LNC=2: 4; Trn1/Inf2:
   * 2), 1 for a GPU, 0 for CPU.
   */
  readonly coresPerDevice: number;
  /** Logical NeuronCore config (`NEURON_LOGICAL_NC_CONFIG`); null off Neuron. */
  readonly logicalNeuronCoreConfig: number | null;
  readonly memoryPerDeviceBytes: number;
  readonly vcpus: number;
  readonly nodeMemoryBytes: number;
  /** CPU architecture of the host. */
  readonly arch: "x86_64" | "arm64";
  readonly sources: readonly string[];
  readonly note?: string;
}

const GB = 1e9;
const GiB = 2 ** 30;

const NEURON_TRN2 = "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/trn2-arch.html";
const NEURON_TRN1 = "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/trn1-arch.html";
const NEURON_INF2 = "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/inf2-arch.html";
const NEURON_API = "aws-neuron/aws-neuron-sdk libraries/nxd-inference/api-guides/api-guide.rst (LNC=2: 64 logical cores, 24 GB each)";
const EC2_ACCEL = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html";
const EC2_GP = "https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html";
const EC2_MO = "https://docs.aws.amazon.com/ec2/latest/instancetypes/mo.html";
const EC2_CO = "https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html";

function gpu(
  name: string,
  deviceName: string,
  devices: number,
  memGB: number,
  vcpus: number,
  nodeGiB: number,
  src: string,
  note?: string,
): InstanceType {
  return {
    name,
    accelerator: "nvidia",
    deviceName,
    devices,
    coresPerDevice: 1,
    logicalNeuronCoreConfig: null,
    memoryPerDeviceBytes: memGB * GB,
    vcpus,
    nodeMemoryBytes: nodeGiB * GiB,
    arch: "x86_64",
    sources: [src, EC2_ACCEL],
    ...(note ? { note } : {}),
  };
}

function cpu(name: string, vcpus: number, nodeGiB: number, src: string, arch: "x86_64" | "arm64" = "x86_64"): InstanceType {
  return {
    name,
    accelerator: "cpu",
    deviceName: "",
    devices: 0,
    coresPerDevice: 0,
    logicalNeuronCoreConfig: null,
    memoryPerDeviceBytes: 0,
    vcpus,
    nodeMemoryBytes: nodeGiB * GiB,
    arch,
    sources: [src],
  };
}

export const INSTANCE_CATALOG: readonly InstanceType[] = [
  {
    name: "trn2.48xlarge",
    accelerator: "neuron",
    deviceName: "Trainium2",
    devices: 16,
    coresPerDevice: 4,
    logicalNeuronCoreConfig: 2,
    memoryPerDeviceBytes: 96 * GB,
    vcpus: 192,
    nodeMemoryBytes: 2048 * GiB,
    arch: "x86_64",
    sources: [NEURON_TRN2, NEURON_API, "https://aws.amazon.com/ec2/instance-types/trn2/"],
    note:
      "16 Trainium2 devices × 8 physical NeuronCores; LNC=2 gives 64 logical cores of 24 GB = 1.536 TB HBM (AWS rounds to 1.5 TB; " +
      "some pages say 96 GiB per device, the smaller figure is used). The guide's table says 32 devices: the device plugin exposes 16.",
  },
  {
    name: "trn1.32xlarge",
    accelerator: "neuron",
    deviceName: "Trainium",
    devices: 16,
    coresPerDevice: 2,
    logicalNeuronCoreConfig: 1,
    memoryPerDeviceBytes: 32 * GiB,
    vcpus: 128,
    nodeMemoryBytes: 512 * GiB,
    arch: "x86_64",
    sources: [NEURON_TRN1, "https://aws.amazon.com/ec2/instance-types/trn1/"],
    note: "16 Trainium devices × 2 NeuronCores = 32 cores, 32 GiB HBM per device (512 GiB).",
  },
  {
    name: "inf2.48xlarge",
    accelerator: "neuron",
    deviceName: "Inferentia2",
    devices: 12,
    coresPerDevice: 2,
    logicalNeuronCoreConfig: 1,
    memoryPerDeviceBytes: 32 * GiB,
    vcpus: 192,
    nodeMemoryBytes: 768 * GiB,
    arch: "x86_64",
    sources: [NEURON_INF2, "https://aws.amazon.com/ec2/instance-types/inf2/"],
    note: "12 Inferentia2 devices × 2 NeuronCores = 24 cores, 32 GiB HBM per device (384 GiB).",
  },
  gpu("p5.48xlarge", "H100 80GB", 8, 80, 192, 2048, "https://aws.amazon.com/ec2/instance-types/p5/"),
  gpu("p5e.48xlarge", "H200 141GB", 8, 141, 192, 2048, "https://aws.amazon.com/ec2/instance-types/p5/"),
  gpu(
    "p5en.48xlarge",
    "H200 141GB",
    8,
    141,
    192,
    2048,
    "https://aws.amazon.com/ec2/instance-types/p5/",
    "p5e with Sapphire Rapids hosts and EFAv3; same GPUs.",
  ),
  gpu("p4d.24xlarge", "A100 40GB", 8, 40, 96, 1152, "https://aws.amazon.com/ec2/instance-types/p4/"),
  gpu("p4de.24xlarge", "A100 80GB", 8, 80, 96, 1152, "https://aws.amazon.com/ec2/instance-types/p4/"),
  gpu("g6e.xlarge", "L40S 48GB", 1, 48, 4, 32, "https://aws.amazon.com/ec2/instance-types/g6e/"),
  gpu("g6e.12xlarge", "L40S 48GB", 4, 48, 48, 384, "https://aws.amazon.com/ec2/instance-types/g6e/"),
  gpu("g6e.24xlarge", "L40S 48GB", 4, 48, 96, 768, "https://aws.amazon.com/ec2/instance-types/g6e/"),
  gpu("g6e.48xlarge", "L40S 48GB", 8, 48, 192, 1536, "https://aws.amazon.com/ec2/instance-types/g6e/"),
  gpu("g5.xlarge", "A10G 24GB", 1, 24, 4, 16, "https://aws.amazon.com/ec2/instance-types/g5/"),
  gpu("g5.12xlarge", "A10G 24GB", 4, 24, 48, 192, "https://aws.amazon.com/ec2/instance-types/g5/"),
  gpu("g5.48xlarge", "A10G 24GB", 8, 24, 192, 768, "https://aws.amazon.com/ec2/instance-types/g5/"),
  cpu("m7i.xlarge", 4, 16, EC2_GP),
  cpu("m7i.4xlarge", 16, 64, EC2_GP),
  cpu("m7i.48xlarge", 192, 768, EC2_GP),
  cpu("c7i.48xlarge", 192, 384, EC2_CO),
  cpu("r7i.48xlarge", 192, 1536, EC2_MO),
  cpu("r7iz.32xlarge", 128, 1024, EC2_MO),
  cpu("x2iedn.32xlarge", 128, 4096, EC2_MO),
  cpu("m7g.16xlarge", 64, 256, EC2_GP, "arm64"),
  cpu("r7g.16xlarge", 64, 512, EC2_MO, "arm64"),
];

export function findInstance(name: string): InstanceType | null {
  return INSTANCE_CATALOG.find((i) => i.name === name) ?? null;
}

/** Extended resource name the device plugin registers, or null for CPU. */
export function deviceResource(i: InstanceType): string | null {
  return i.accelerator === "neuron" ? "aws.amazon.com/neuron" : i.accelerator === "nvidia" ? "nvidia.com/gpu" : null;
}
