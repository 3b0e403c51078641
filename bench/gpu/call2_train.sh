#!/usr/bin/env bash
# Call 2 of a GPU session, ON THE GPU MACHINE (carry .whl): train a candidate stage-1 UNet (base) and
# stream UNet (CAM + APM) larger than the CPU could, from the shipped VAE and micro-CLIP, assemble them as
# a model folder and measure it against the shipped model (bench/gpu/measure_candidate.py).
#   bash bench/gpu/call2_train.sh BASE_STEPS STREAM_STEPS [PRESET] [BATCH]
# Size the steps from call 1's s/step (train_cuda_bf16*.md) so that training takes ≤ 7 minutes: setup and
# measuring take ~2 of the call's 10. Returns (≤ 8 files): candidate.tar (the model folder's new parts, fp16),
# figures.json and its table, both runs' loss logs and configs.
set -euo pipefail
base_steps=${1:?BASE_STEPS}
stream_steps=${2:?STREAM_STEPS}
preset=${3:-tiny}
batch=${4:-32}
source bench/gpu/setup.sh
out=${OUT:?OUT is the folder whose files come back}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=$work/runs
shipped=src/streamt2v/assets/microworld
# The shipped runs' settings (MODEL_CARD.md), with a GPU's batch and bf16. Stage 1 trains on images too
# (base-3's image_batch), the stream with noised conditioning frames (stream-aug's cond_noise_aug).
common=(--size 32 --preset "$preset" --vae "$shipped/vae" --clip "$shipped" --batch-size "$batch"
  --set prediction_type=v_prediction --set rescale_betas_zero_snr=true --set timestep_spacing=trailing
  --lr 6e-4 --warmup-steps 100 --lr-schedule cosine --ema-decay 0.999 --mixed-precision bf16
  --num-workers 4 --no-progress)
if [ "$DEVICE" = cpu ]; then common+=(--cpu); fi
keep() { cp "$runs/$1/loss.jsonl" "$out/$1-loss.jsonl"; cp "$runs/$1/config.json" "$out/$1-config.json"; }
t0=$SECONDS
python3 -m streamt2v train base --out "$runs/base" "${common[@]}" --steps "$base_steps" \
  --checkpoint-every "$base_steps" --set image_batch=8
keep base
echo "base: $((SECONDS - t0)) s"
t0=$SECONDS
python3 -m streamt2v train stream --out "$runs/stream" "${common[@]}" --steps "$stream_steps" \
  --checkpoint-every "$stream_steps" --base-unet "$runs/base/final/unet" --set cond_noise_aug=0.3
keep stream
echo "stream: $((SECONDS - t0)) s"
sampler=$(python3 -c "import json; print(json.dumps(json.load(open('$shipped/model_index.json'))['streamt2v']['sampler']))")
python3 -m streamt2v assemble model "$work/candidate" --unet "$runs/stream/final/unet" --dtype fp16 \
  --sampler "$sampler" --name "microworld-gpu-$preset" --no-progress
# the new parts only (a small candidate whole is over the 16 MiB a returned file may have): the VAE, text
# and image encoders and tokenizer are the shipped ones (src/streamt2v/assets/microworld), put back here
tar -C "$work" -cf "$out/candidate.tar" candidate/unet candidate/init_unet candidate/scheduler \
  candidate/model_index.json
if [ "$(stat -c %s "$out/candidate.tar")" -gt $((16 * 1024 * 1024)) ]; then  # `small`: ~15 MB; larger: parts
  split -b 15M "$out/candidate.tar" "$out/candidate.tar.part-" && rm "$out/candidate.tar"
fi
python3 bench/gpu/measure_candidate.py microworld "$work/candidate" --device "$DEVICE" --out "$out/figures.json" \
  | tee "$out/figures.md"
