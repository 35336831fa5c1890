# GENERATED FILE: do not edit. Generated from profiles/ by gptoss_images/render/bake.py.
# Regenerate: python build.py render
#
# The BuildKit path (docker buildx bake), from the repository root:
#   docker buildx bake -f docker/docker-bake.hcl h100          one profile
#   docker buildx bake -f docker/docker-bake.hcl cuda          a family; `all` for every profile
#   REPO=ghcr.io/acme/gptoss-images REVISION=$(git rev-parse HEAD) DATE=$(date -u +%Y%m%d) \
#     CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) docker buildx bake -f docker/docker-bake.hcl all
# Without buildx, build.py (the engine API) or plain `docker build` build the same Dockerfiles.

variable "REPO" {
  default = "gptoss-images"
}

variable "PIP_INDEX_URL" {
  default = "https://pypi.org/simple"
}

variable "REVISION" {
  default = ""
}

variable "DATE" {
  default = ""
}

variable "CREATED" {
  default = ""
}

target "stack-cuda-cu128" {
  context = "."
  dockerfile = "docker/stacks/cuda-cu128/Dockerfile"
  args = {
    "BASE_IMAGE" = "nvidia/cuda:12.8.1-devel-ubuntu24.04"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  tags = ["gptoss-images-stack:cuda-cu128-fcb2e439683e"]
}

target "stack-cuda-cu128-b200" {
  context = "."
  dockerfile = "docker/stacks/cuda-cu128-b200/Dockerfile"
  args = {
    "BASE_IMAGE" = "nvidia/cuda:12.8.1-devel-ubuntu24.04"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  tags = ["gptoss-images-stack:cuda-cu128-b200-5d7a77846c92"]
}

target "stack-cuda-current" {
  context = "."
  dockerfile = "docker/stacks/cuda-current/Dockerfile"
  args = {
    "BASE_IMAGE" = "nvidia/cuda:13.0.2-base-ubuntu24.04"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  tags = ["gptoss-images-stack:cuda-current-a61ba264712c"]
}

target "a100" {
  context = "."
  dockerfile = "docker/a100/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-current-a61ba264712c" = "target:stack-cuda-current"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "a100-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-a100"]
}

target "a100-cu128" {
  context = "."
  dockerfile = "docker/a100-cu128/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-cu128-fcb2e439683e" = "target:stack-cuda-cu128"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "a100-cu128-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-a100-cu128"]
}

target "b200" {
  context = "."
  dockerfile = "docker/b200/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-current-a61ba264712c" = "target:stack-cuda-current"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "b200-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-b200"]
}

target "b200-cu128" {
  context = "."
  dockerfile = "docker/b200-cu128/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-cu128-b200-5d7a77846c92" = "target:stack-cuda-cu128-b200"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "b200-cu128-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-b200-cu128"]
}

target "h100" {
  context = "."
  dockerfile = "docker/h100/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-current-a61ba264712c" = "target:stack-cuda-current"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "h100-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-h100"]
}

target "h100-cu128" {
  context = "."
  dockerfile = "docker/h100-cu128/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-cu128-fcb2e439683e" = "target:stack-cuda-cu128"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "h100-cu128-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-h100-cu128"]
}

target "h200" {
  context = "."
  dockerfile = "docker/h200/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-current-a61ba264712c" = "target:stack-cuda-current"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "h200-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-h200"]
}

target "h200-cu128" {
  context = "."
  dockerfile = "docker/h200-cu128/Dockerfile"
  contexts = {
    "gptoss-images-stack:cuda-cu128-fcb2e439683e" = "target:stack-cuda-cu128"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "h200-cu128-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-h200-cu128"]
}

target "mi300x" {
  context = "."
  dockerfile = "docker/mi300x/Dockerfile"
  args = {
    "BASE_IMAGE" = "vllm/vllm-openai-rocm:v0.33.0"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi300x-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi300x"]
}

target "mi300x-preview" {
  context = "."
  dockerfile = "docker/mi300x-preview/Dockerfile"
  args = {
    "BASE_IMAGE" = "rocm/vllm-dev:open-mi300-08052025"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi300x-preview-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi300x-preview"]
}

target "mi325x" {
  context = "."
  dockerfile = "docker/mi325x/Dockerfile"
  args = {
    "BASE_IMAGE" = "vllm/vllm-openai-rocm:v0.33.0"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi325x-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi325x"]
}

target "mi325x-preview" {
  context = "."
  dockerfile = "docker/mi325x-preview/Dockerfile"
  args = {
    "BASE_IMAGE" = "rocm/vllm-dev:open-mi300-08052025"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi325x-preview-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi325x-preview"]
}

target "mi355x" {
  context = "."
  dockerfile = "docker/mi355x/Dockerfile"
  args = {
    "BASE_IMAGE" = "vllm/vllm-openai-rocm:v0.33.0"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi355x-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi355x"]
}

target "mi355x-preview" {
  context = "."
  dockerfile = "docker/mi355x-preview/Dockerfile"
  args = {
    "BASE_IMAGE" = "rocm/vllm-dev:open-mi355-08052025"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "mi355x-preview-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-mi355x-preview"]
}

target "r9700" {
  context = "."
  dockerfile = "docker/r9700/Dockerfile"
  args = {
    "BASE_IMAGE" = "vllm/vllm-openai-rocm:v0.33.0"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "r9700-vllm0.33.0-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-r9700"]
}

target "r9700-preview" {
  context = "."
  dockerfile = "docker/r9700-preview/Dockerfile"
  args = {
    "BASE_IMAGE" = "rocm/vllm-dev:open-r9700-08052025"
    "PIP_INDEX_URL" = "${PIP_INDEX_URL}"
  }
  labels = {
    "org.opencontainers.image.revision" = "${REVISION}"
    "org.opencontainers.image.version" = "r9700-preview-vllm0.10.2-${DATE}"
    "org.opencontainers.image.created" = "${CREATED}"
  }
  tags = ["${REPO}:gptoss-r9700-preview"]
}

group "cuda" {
  targets = ["a100", "a100-cu128", "b200", "b200-cu128", "h100", "h100-cu128", "h200", "h200-cu128"]
}

group "rocm" {
  targets = ["mi300x", "mi300x-preview", "mi325x", "mi325x-preview", "mi355x", "mi355x-preview", "r9700", "r9700-preview"]
}

group "all" {
  targets = ["cuda", "rocm"]
}

group "default" {
  targets = ["all"]
}
