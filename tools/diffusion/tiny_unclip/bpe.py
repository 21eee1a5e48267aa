"""A CLIP-style byte-level BPE: training on a caption set, encoding, and the tokenizer/ folder files.

Kept independent of the TypeScript tokenizer on purpose: the ids this writes into a fixture are the
reference the TypeScript implementation is tested against.
"""
import json
import os
import re
from collections import Counter

BOS, EOS = '<|startoftext|>', '<|endoftext|>'
PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""", re.IGNORECASE)


def bytes_to_unicode() -> dict[int, str]:
    printable = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = bytes_to_unicode()


def clean(text: str) -> str:
    return re.sub(r'\s+', ' ', text).strip().lower()


def words(text: str) -> list[str]:
    return [''.join(BYTE_CHARS[b] for b in piece.encode('utf-8')) for piece in PATTERN.findall(clean(text))]


def symbols(word: str) -> tuple[str, ...]:
    return tuple(word[:-1]) + (word[-1] + '</w>',)


def merge_pair(parts: list[str], pair: tuple[str, str]) -> list[str]:
    """Every non-overlapping occurrence of the pair, left to right, joined into one symbol."""
    out, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            out.append(parts[i] + parts[i + 1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def train(texts: list[str], merges_wanted: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Greedy BPE: merge the most frequent adjacent pair; ties go to the lexicographically smallest pair."""
    counts = Counter(symbols(w) for t in texts for w in words(t))
    merges: list[tuple[str, str]] = []
    for _ in range(merges_wanted):
        pairs: Counter = Counter()
        for word, n in counts.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best_count = max(pairs.values())
        best = min(p for p, n in pairs.items() if n == best_count)
        merges.append(best)
        merged: Counter = Counter()
        for word, n in counts.items():
            merged[tuple(merge_pair(list(word), best))] += n
        counts = merged
    base = list(BYTE_CHARS.values())
    vocab_list = base + [c + '</w>' for c in base] + [a + b for a, b in merges] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(vocab_list)}, merges


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    parts = list(symbols(word))
    while len(parts) > 1:
        candidates = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, _ = min(candidates)
        if rank == 1 << 30:
            break
        pair = next((parts[i], parts[i + 1]) for r, i in candidates if r == rank)
        parts = merge_pair(parts, pair)
    return parts


def encode(text: str, vocab: dict[str, int], merges: list[tuple[str, str]], max_length: int) -> list[int]:
    ranks = {m: i for i, m in enumerate(merges)}
    ids = [vocab[BOS]]
    for w in words(text):
        ids.extend(vocab[p] for p in bpe(w, ranks))
    ids = ids[: max_length - 1] + [vocab[EOS]]
    return ids + [vocab[EOS]] * (max_length - len(ids))


def write(folder: str, vocab: dict[str, int], merges: list[tuple[str, str]], max_length: int) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in merges))
    special = {'bos_token': BOS, 'eos_token': EOS, 'unk_token': EOS, 'pad_token': EOS}
    with open(os.path.join(folder, 'special_tokens_map.json'), 'w') as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump({**special, 'model_max_length': max_length, 'tokenizer_class': 'CLIPTokenizer', 'do_lower_case': True}, f, indent=2)
