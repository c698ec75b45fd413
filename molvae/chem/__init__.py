"""The only module that talks to RDKit.

Parsing, canonicalization, validation and a registry of molecular properties computed by name.
Batch functions never raise on one bad molecule: they return ``None`` plus a reason.

Example:
    >>> canonicalize("OCC")
    ('CCO', None)
    >>> compute_properties(["CCO"], ["mw"]).round(2)
    array([[46.07]])
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, RDConfig, rdBase
from rdkit.Chem import BRICS, QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold

from molvae.errors import InputError

logger = logging.getLogger(__name__)

# Reasons a molecule is rejected; stable strings that scripts can match on.
REASON_EMPTY = "empty"
REASON_UNPARSEABLE = "unparseable"


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's C++ logger inside the block (parse errors are reported as reasons); on leaving,
    each log is as it was before (nested blocks leave the outer one silent, and RDKit's info log, off
    by default, stays off)."""
    block = rdBase.BlockLogs()
    try:
        yield
    finally:
        del block


def mol_from_smiles(smiles: str) -> Chem.Mol | None:
    """Parse a SMILES string quietly; ``None`` if RDKit rejects it."""
    if not smiles or not smiles.strip():
        return None
    with quiet_rdkit():
        return Chem.MolFromSmiles(smiles.strip())


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """Keep the fragment with the most heavy atoms (salt stripping)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True)
    return max(frags, key=lambda m: (m.GetNumHeavyAtoms(), m.GetNumAtoms()))


def canonicalize(smiles: str, *, keep_largest_fragment: bool = False) -> tuple[str | None, str | None]:
    """Return ``(canonical_smiles, None)`` or ``(None, reason)``.

    Stereochemistry is kept; the result is RDKit's canonical isomeric SMILES.
    """
    if smiles is None or (isinstance(smiles, float) and math.isnan(smiles)) or not str(smiles).strip():
        return None, REASON_EMPTY
    mol = mol_from_smiles(str(smiles))
    if mol is None:
        return None, REASON_UNPARSEABLE
    if keep_largest_fragment and mol.GetNumAtoms() > 0:
        mol = largest_fragment(mol)
    if mol.GetNumAtoms() == 0:
        return None, REASON_EMPTY
    with quiet_rdkit():
        return Chem.MolToSmiles(mol), None


def random_smiles(smiles: Sequence[str], seeds: Sequence[int]) -> list[str | None]:
    """One randomized (non-canonical) SMILES of each molecule, a seeded random atom order and start
    (the augmentation of Bjerrum 2017 and Arus-Pous et al. 2019); None where RDKit cannot read it."""
    out: list[str | None] = []
    for smi, seed in zip(smiles, seeds):
        mol = mol_from_smiles(smi)
        with quiet_rdkit():
            # RDKit reads randomSeed 0 as "unseeded": every seed is mapped to 1 .. 2**31 - 1
            seeded = int(seed) % (2**31 - 1) + 1
            out.append(None if mol is None else Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seeded)[0])
    return out


def canonicalize_many(
    smiles: Sequence[str], *, keep_largest_fragment: bool = False
) -> tuple[list[str | None], list[str | None]]:
    """Canonicalize a batch; returns parallel lists of canonical SMILES and reasons."""
    out, reasons = [], []
    for s in smiles:
        c, r = canonicalize(s, keep_largest_fragment=keep_largest_fragment)
        out.append(c)
        reasons.append(r)
    return out, reasons


def canonicalize_decoded(
    smiles: Sequence[str], ring_sizes: list[int] | None = None
) -> tuple[list[str | None], list[str | None], list[bool]]:
    """Canonicalize what a decoder wrote, reading an under-bonded bracket atom as the plain atom.

    SELFIES keeps the explicit hydrogens of bracket tokens such as ``[C@H1]`` or ``[NH1+1]``: when
    the decoder gives such an atom fewer bonds than the token expects, RDKit sees a radical
    (``[CH]``, ``[NH+]``). It is not one the decoder meant (the data has none): it wrote a
    stereocentre or cation and then too few neighbours. Such atoms get their radical electrons
    removed and implicit hydrogens filled by the normal valence rules (a chiral tag on an atom with
    fewer than three neighbours is dropped). Returns canonical SMILES, reasons and whether each
    molecule was repaired. For decoded strings only: user input is never changed. ``ring_sizes``: a
    list that gets each molecule's largest ring (atoms; 0 for none or invalid) appended, read from
    the molecule already parsed here (the ring limit needs it).
    """
    out: list[str | None] = []
    reasons: list[str | None] = []
    repaired: list[bool] = []
    for s in smiles:
        if ring_sizes is not None:
            ring_sizes.append(0)
        if not s or not s.strip():
            out.append(None)
            reasons.append(REASON_EMPTY)
            repaired.append(False)
            continue
        mol = mol_from_smiles(s)
        if mol is None or mol.GetNumAtoms() == 0:
            out.append(None)
            reasons.append(REASON_UNPARSEABLE if mol is None else REASON_EMPTY)
            repaired.append(False)
            continue
        fixed = False
        for atom in mol.GetAtoms():
            if atom.GetNumRadicalElectrons():
                atom.SetNumRadicalElectrons(0)
                atom.SetNoImplicit(False)
                atom.SetNumExplicitHs(0)
                if atom.GetDegree() < 3:
                    atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
                fixed = True
        if fixed:
            try:
                with quiet_rdkit():
                    Chem.SanitizeMol(mol)
            except (ValueError, RuntimeError):
                out.append(None)
                reasons.append(REASON_UNPARSEABLE)
                repaired.append(False)
                continue
        with quiet_rdkit():
            out.append(Chem.MolToSmiles(mol))
        reasons.append(None)
        repaired.append(fixed)
        if ring_sizes is not None:
            ring_sizes[-1] = max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)
    return out, reasons, repaired


def is_valid(smiles: str | None) -> bool:
    """True if RDKit parses the SMILES into a molecule with at least one atom."""
    if not smiles:
        return False
    mol = mol_from_smiles(smiles)
    return mol is not None and mol.GetNumAtoms() > 0


# --------------------------------------------------------------------------- properties

_sascorer = None


def _sa_module():
    """Import RDKit Contrib's ``sascorer`` once (it lives outside the rdkit package path)."""
    global _sascorer
    if _sascorer is None:
        import importlib.util

        # loaded from its file: sys.path is left as it was
        path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
        spec = importlib.util.spec_from_file_location("molvae_sascorer", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _sascorer = module
    return _sascorer


def _sa(mol: Chem.Mol) -> float:
    return float(_sa_module().calculateScore(mol))


@dataclass(frozen=True)
class PropertySpec:
    """A molecular property that can be computed from an RDKit molecule."""

    name: str
    description: str
    fn: Callable[[Chem.Mol], float]


PROPERTIES: dict[str, PropertySpec] = {
    spec.name: spec
    for spec in [
        PropertySpec("logp", "Crippen logP (RDKit)", lambda m: float(Crippen.MolLogP(m))),  # type: ignore[attr-defined]
        PropertySpec("qed", "quantitative estimate of drug-likeness (RDKit QED)", lambda m: float(QED.qed(m))),
        PropertySpec("sa", "synthetic accessibility score, 1 (easy) to 10 (hard) (RDKit Contrib sascorer)", _sa),
        PropertySpec("mw", "molecular weight (Da)", lambda m: float(Descriptors.MolWt(m))),  # type: ignore[attr-defined]
        PropertySpec("tpsa", "topological polar surface area", lambda m: float(rdMolDescriptors.CalcTPSA(m))),
        PropertySpec("hbd", "hydrogen-bond donors", lambda m: float(rdMolDescriptors.CalcNumHBD(m))),
        PropertySpec("hba", "hydrogen-bond acceptors", lambda m: float(rdMolDescriptors.CalcNumHBA(m))),
        PropertySpec("rotb", "rotatable bonds", lambda m: float(rdMolDescriptors.CalcNumRotatableBonds(m))),
        PropertySpec("rings", "number of rings", lambda m: float(rdMolDescriptors.CalcNumRings(m))),
        PropertySpec("heavy_atoms", "number of heavy atoms", lambda m: float(m.GetNumHeavyAtoms())),
    ]
}

# Common spellings found in data files, mapped to registry names.
PROPERTY_ALIASES = {"sas": "sa", "sascore": "sa", "sa_score": "sa", "molwt": "mw", "clogp": "logp"}


def property_spec(name: str) -> PropertySpec:
    """Look up a property by name (case-insensitive, aliases allowed); raises InputError listing known names."""
    key = PROPERTY_ALIASES.get(name.lower(), name.lower())
    if key not in PROPERTIES:
        raise InputError(f"unknown property {name!r}; known properties: {', '.join(sorted(PROPERTIES))}")
    return PROPERTIES[key]


def compute_properties(smiles: Sequence[str | None], names: Sequence[str]) -> np.ndarray:
    """Compute properties by registry name: ``n x len(names)`` float array, NaN where a molecule fails."""
    specs = [property_spec(n) for n in names]
    out = np.full((len(smiles), len(specs)), np.nan, dtype=np.float64)
    for i, s in enumerate(smiles):
        mol = mol_from_smiles(s) if s else None
        if mol is None:
            continue
        for j, spec in enumerate(specs):
            try:
                out[i, j] = spec.fn(mol)
            except Exception as exc:  # one bad molecule never stops a batch
                logger.debug("property %s failed for %s: %s", spec.name, s, exc)
    return out


def heavy_atom_counts(smiles: Sequence[str | None]) -> np.ndarray:
    """Heavy atoms of each molecule (0 where it does not parse)."""
    mols = (mol_from_smiles(s) if s else None for s in smiles)
    return np.array([m.GetNumHeavyAtoms() if m is not None else 0 for m in mols], dtype=np.int64)


def has_radicals(smiles: str | None) -> bool:
    """True if any atom carries unpaired electrons (decoders can write e.g. ``[CH]`` or ``[O]``)."""
    mol = mol_from_smiles(smiles) if smiles else None
    return mol is not None and any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms())


def iter_sdf(path) -> Iterator[dict[str, str]]:
    """The records of an SDF (gzip allowed), one at a time, as ``{"smiles": ..., "name": ..., props...}``:
    the one SDF reader (:mod:`molvae.io` reads whole files and chunks through it).

    Records RDKit cannot parse keep their place with an empty SMILES, so they are rejected
    downstream with a reason instead of disappearing.
    """
    import gzip

    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as fh, quiet_rdkit():
        for mol in Chem.ForwardSDMolSupplier(fh, sanitize=True, removeHs=True):
            if mol is None:
                yield {"smiles": "", "name": ""}
                continue
            record = {"smiles": Chem.MolToSmiles(mol), "name": mol.GetProp("_Name") if mol.HasProp("_Name") else ""}
            record.update({k: str(v) for k, v in mol.GetPropsAsDict(includePrivate=False).items()})
            yield record


# --------------------------------------------------------------------------- fingerprints, fragments, scaffolds


def morgan_fingerprints(smiles: Sequence[str | None], radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """Morgan (ECFP4-like for radius 2) bit vectors: ``n x n_bits`` uint8; all-zero rows where invalid."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = mol_from_smiles(s) if s else None
        if mol is not None:
            out[i] = generator.GetFingerprintAsNumPy(mol)
    return out


def brics_fragments(smiles: str) -> list[str]:
    """Fragments left after cutting a molecule's BRICS bonds (with dummy atoms at the cuts), as SMILES."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return []
    with quiet_rdkit():
        return Chem.MolToSmiles(BRICS.BreakBRICSBonds(mol)).split(".")


@functools.cache
def _standardizers() -> tuple[rdMolStandardize.Uncharger, rdMolStandardize.TautomerEnumerator]:
    tautomers = rdMolStandardize.TautomerEnumerator()
    tautomers.SetMaxTautomers(50)  # bounded: about 2 ms per drug-sized molecule
    tautomers.SetMaxTransforms(50)
    return rdMolStandardize.Uncharger(), tautomers


def tautomer_key(smiles: str) -> str | None:
    """One name for every tautomer and charge state of a molecule: the canonical SMILES of the
    canonical tautomer (RDKit's TautomerEnumerator, bounded) of its neutralized form (RDKit's
    Uncharger). Two SMILES with the same key are the same compound to a chemist (2-hydroxypyridine
    and 2-pyridone; acetic acid and acetate). None if the SMILES cannot be read.

    Example:
        >>> tautomer_key("Oc1ccccn1") == tautomer_key("O=c1cccc[nH]1")
        True
    """
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    uncharger, tautomers = _standardizers()
    try:
        with quiet_rdkit():
            return Chem.MolToSmiles(tautomers.Canonicalize(uncharger.uncharge(mol)))
    except (ValueError, RuntimeError):
        return Chem.MolToSmiles(mol)


def murcko_scaffold(smiles: str, min_rings: int = 2) -> str | None:
    """Bemis-Murcko scaffold SMILES, or None if there is none with at least ``min_rings`` rings."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    try:
        with quiet_rdkit():
            scaffold = MurckoScaffold.GetScaffoldForMol(mol)
            text = Chem.MolToSmiles(scaffold)
    except (ValueError, RuntimeError):
        return None
    if not text or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return text


# --------------------------------------------------------------------------- chemistry a chemist would check

# Elements of ZINC250k: a generated molecule with any other element is off the data's chemistry.
ZINC_ELEMENTS = frozenset({"C", "N", "O", "S", "F", "Cl", "Br", "I", "P"})
# The atoms MOSES's "Filters" metric allows (Polykovskiy et al. 2020, moses/metrics/utils.py).
MOSES_ELEMENTS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
# The medicinal-chemistry filters (MCF) of MOSES (moses/metrics/mcf.csv, MIT licence; Polykovskiy
# et al. 2020): reactive or unstable groups such as Michael acceptors, epoxides, aziridines, aldehydes,
# azo and N-N-N chains, S-S bonds and poly-halogenation. Used with the PAINS A/B/C sets (Baell and
# Holloway 2010), which RDKit's FilterCatalog ships and which equal MOSES's wehi_pains list.
MCF_SMARTS = (
    "[#6]=&!@[#6]-[#6]#[#7]",
    "[#6]=&!@[#6]-[#16](=[#8])=[#8]",
    "[#6]=&!@[#6&!H0]-&!@[#6](=[#8])-&!@[#7]",
    "[H]C([H])([#6])[F,Cl,Br,I]",
    "[#6]1-[#8]-[#6]-1",
    "[#6]-[#7]=[#6]=[#8]",
    "[#6&!H0]=[#8]",
    "[#6](=&!@[#7&!H0])-&!@[#6,#7,#8,#16]",
    "[#6]1-[#7]-[#6]-1",
    "[#6]~&!@[#7]~&!@[#7]~&!@[#6]",
    "[#7]=&!@[#7]",
    "[H][#6]-1=[#6]([H])-[#6]=[#6](-*)-[#8]-1",
    "[H][#6]-1=[#6]([H])-[#6]=[#6](-*)-[#16]-1",
    "[#17,#35,#53]-c(:*):[!#1!#6]:*",
    "[H][#7]([H])-[#6]-1=[#6]-[#6]=[#6]-[#6]=[#6]-1",
    "[#16]~[#16]",
    "[#7]~&!@[#7]~&!@[#7]",
    "[#7]-&!@[#6&!H0&!H1]-&!@[#7]",
    "[#6&!H0](-&!@[#8])-&!@[#8]",
    "[#35].[#35].[#35]",
    "[#17].[#17].[#17].[#17]",
    "[#9].[#9].[#9].[#9].[#9].[#9].[#9]",
)
SANITY_MIN_HEAVY_ATOMS = 10  # smaller than all but about 0.1% of ZINC250k: a fragment, not a lead
SANITY_MAX_RING = 8

_filters: dict[str, object] = {}


def _filter_patterns():
    """PAINS catalog and MCF patterns, built once per process."""
    if not _filters:
        from rdkit.Chem import FilterCatalog

        params = FilterCatalog.FilterCatalogParams()
        params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.PAINS)
        _filters["pains"] = FilterCatalog.FilterCatalog(params)
        _filters["mcf"] = [Chem.MolFromSmarts(s) for s in MCF_SMARTS]
    return _filters


def _has_pains(mol: Chem.Mol, pats: dict) -> bool:
    """A PAINS A/B/C match. RDKit's PAINS catalog holds its hydrogens as merged H-count queries, so
    the molecule needs no explicit hydrogens (the same answer as on ``Chem.AddHs(mol)``, checked in
    the tests, in about 60% of the time)."""
    return pats["pains"].HasMatch(mol)


def _sane_without_pains(p: dict[str, np.ndarray]) -> np.ndarray:
    return (
        (p["valid"])
        & (p["fragments"] == 1)
        & ~p["radicals"]
        & (p["heavy_atoms"] >= SANITY_MIN_HEAVY_ATOMS)
        & (p["max_ring"] <= SANITY_MAX_RING)
        & p["zinc_elements"]
    )


# Columns of :func:`chemistry_profile`, in order.
PROFILE_COLUMNS = (
    "valid",
    "heavy_atoms",
    "fragments",
    "radicals",
    "max_ring",
    "charged",
    "zinc_elements",
    "pains",
    "mcf",
    "sane",
    "moses_filters",
    "familiar",
)


def chemistry_profile(smiles: Sequence[str | None]) -> dict[str, np.ndarray]:
    """What a medicinal chemist looks at first, per molecule (arrays of length ``n``):

    ``valid``; ``heavy_atoms``; ``fragments`` (disconnected pieces); ``radicals`` (any atom with
    unpaired electrons); ``max_ring`` (atoms in the largest ring, 0 if acyclic); ``charged`` (any
    formal charge); ``zinc_elements`` (only C N O S F Cl Br I P); ``pains`` (a PAINS A/B/C match);
    ``mcf`` (a MOSES medicinal-chemistry-filter match);
    ``sane`` = valid, one fragment, no radicals, at least ``SANITY_MIN_HEAVY_ATOMS`` heavy atoms,
    no ring over ``SANITY_MAX_RING`` atoms, only ZINC's elements, no PAINS match;
    ``moses_filters`` = MOSES's "Filters" test: no ring of 8 or more atoms, no charge, only
    C N S O F Cl Br H, no PAINS and no MCF match;
    ``familiar`` = every atom environment occurs in ZINC250k (:func:`familiar_flags`).
    Invalid molecules are False / 0 everywhere.
    """
    out, mols = _structure_profile(smiles)
    pats = _filter_patterns()
    known = reference_environments()
    for i, mol in enumerate(mols):
        if mol is not None:
            with quiet_rdkit():
                out["familiar"][i] = _is_familiar(mol, known)
            out["pains"][i] = _has_pains(mol, pats)
            with_h = Chem.AddHs(mol)  # some MCF patterns name their hydrogens
            out["mcf"][i] = any(with_h.HasSubstructMatch(p) for p in pats["mcf"])
    out["sane"] = _sane_without_pains(out) & ~out["pains"]
    out["moses_filters"] = (
        out["valid"] & (out["max_ring"] < 8) & ~out["charged"] & out.pop("moses_elements") & ~out["pains"] & ~out["mcf"]
    )
    return out


def sane_flags(smiles: Sequence[str | None], familiar: frozenset[int] | None = None) -> np.ndarray:
    """:func:`chemistry_profile`'s ``sane`` column alone, faster: the PAINS search (the costly part)
    runs only on molecules that pass every other rule, and the MCF patterns not at all.

    ``familiar``: a reference set of atom environments (:func:`reference_environments`); the flags
    are then ``sane and familiar`` (:func:`familiar_flags`), on one parse of each molecule, with the
    familiarity test (about a third of the cost of a PAINS search on 30-atom molecules) run first."""
    out, mols = _structure_profile(smiles)
    sane = _sane_without_pains(out)
    if familiar is not None:
        with quiet_rdkit():
            for i in np.flatnonzero(sane):
                sane[i] = _is_familiar(mols[i], familiar)
    pats = _filter_patterns()
    for i in np.flatnonzero(sane):
        mol = mols[i]
        sane[i] = mol is not None and not _has_pains(mol, pats)
    return sane


def _structure_profile(smiles: Sequence[str | None]) -> tuple[dict[str, np.ndarray], list[Chem.Mol | None]]:
    """The graph-level columns of :func:`chemistry_profile` (filters left False) and the parsed molecules."""
    n = len(smiles)
    out = {
        k: np.zeros(n, dtype=np.int32 if k in ("heavy_atoms", "fragments", "max_ring") else bool)
        for k in (*PROFILE_COLUMNS, "moses_elements")
    }
    mols: list[Chem.Mol | None] = [None] * n
    for i, s in enumerate(smiles):
        mol = mol_from_smiles(s) if s else None
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        mols[i] = mol
        atoms = mol.GetAtoms()
        symbols = {a.GetSymbol() for a in atoms}
        out["valid"][i] = True
        out["heavy_atoms"][i] = mol.GetNumHeavyAtoms()
        out["fragments"][i] = len(Chem.GetMolFrags(mol))
        out["radicals"][i] = any(a.GetNumRadicalElectrons() for a in atoms)
        out["max_ring"][i] = max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0)
        out["charged"][i] = any(a.GetFormalCharge() for a in atoms)
        out["zinc_elements"][i] = symbols <= ZINC_ELEMENTS
        out["moses_elements"][i] = symbols <= MOSES_ELEMENTS
    return out, mols


# --------------------------------------------------------------------------- familiar atom environments

# An atom environment: an atom with its bonds and immediate neighbours (a Morgan radius-1 identifier,
# RDKit's default invariants: element, degree, hydrogens, charge, ring membership; bond types), taken
# on the molecule's neutral form (RDKit's Uncharger), since ZINC writes acids and amines in their
# charged states: ibuprofen's neutral carboxylic acid is as familiar as ZINC's carboxylates.
# A molecule is *familiar* when every one of its environments occurs in a reference set of real
# molecules: an O-F or O-Br bond, a carbon carrying two [O-], a thiolate on a carbonyl, a carbinolamine
# or a peroxide does not occur in ZINC250k and fails, though each parses and passes the sanity rules.
# The idea follows the "silly walks" check of Pat Walters (Morgan identifiers unseen in ChEMBL); the
# shipped reference holds the 6,564 environments of ZINC250k's 224,509 training molecules, and 0.6% of
# its 12,473 validation molecules have one it lacks (scripts/atom_environments.py builds it).
ENVIRONMENT_RADIUS = 1
ZINC_ENVIRONMENTS = Path(__file__).parents[1] / "pretrained" / "zinc250k_atom_environments.npy"
_environment_sets: dict[tuple[str, int], frozenset[int]] = {}


@functools.lru_cache(maxsize=1)
def _environment_tools():
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdFingerprintGenerator.GetMorganGenerator(radius=ENVIRONMENT_RADIUS), rdMolStandardize.Uncharger()


def _environments(mol: Chem.Mol) -> set[int]:
    """The atom environments of a molecule's neutral form. Callers silence RDKit (:func:`quiet_rdkit`):
    the Uncharger logs a line per molecule."""
    generator, uncharger = _environment_tools()
    return set(generator.GetSparseCountFingerprint(uncharger.uncharge(mol)).GetNonzeroElements())


def _is_familiar(mol: Chem.Mol | None, known: frozenset[int]) -> bool:
    """The one test of familiarity: a non-empty molecule whose environments are all in ``known``
    (one that RDKit cannot neutralize or fingerprint is not familiar)."""
    if mol is None or mol.GetNumAtoms() == 0:
        return False
    try:
        return _environments(mol) <= known
    except (RuntimeError, ValueError) as exc:  # RDKit errors surface as these
        logger.debug("no atom environments for %s: %s", Chem.MolToSmiles(mol), exc)
        return False


def environment_counts(smiles: Sequence[str | None]) -> dict[int, int]:
    """How many of the valid molecules hold each atom environment (a reference set's raw material)."""
    counts: dict[int, int] = {}
    with quiet_rdkit():
        for s in smiles:
            mol = mol_from_smiles(s) if s else None
            if mol is not None:
                for env in _environments(mol):
                    counts[env] = counts.get(env, 0) + 1
    return counts


def reference_environments(path: str | Path | None = None) -> frozenset[int]:
    """A reference set of atom environments: a non-empty one-dimensional integer ``.npy`` array of
    identifiers (``None``: ZINC250k's, shipped with the package). Loaded once per process and file
    version (a file rebuilt in place is read again)."""
    where = Path(path or ZINC_ENVIRONMENTS).expanduser().resolve()
    try:
        key = (str(where), where.stat().st_mtime_ns)
        if key not in _environment_sets:
            ids = np.load(where, allow_pickle=False)
            if (
                not isinstance(ids, np.ndarray)
                or ids.ndim != 1
                or ids.size == 0
                or not np.issubdtype(ids.dtype, np.integer)
            ):
                raise ValueError(
                    "expected a non-empty one-dimensional integer array (scripts/atom_environments.py writes one)"
                )
            _environment_sets[key] = frozenset(int(i) for i in ids)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read atom environments from {path or where}: {exc}") from None
    return _environment_sets[key]


def familiar_flags(smiles: Sequence[str | None], reference: frozenset[int] | None = None) -> np.ndarray:
    """True where a molecule is valid and each of its atom environments is in ``reference``
    (default: ZINC250k's, :func:`reference_environments`)."""
    known = reference if reference is not None else reference_environments()
    out = np.zeros(len(smiles), dtype=bool)
    with quiet_rdkit():
        for i, s in enumerate(smiles):
            mol = mol_from_smiles(s) if s else None
            out[i] = _is_familiar(mol, known)
    return out


def max_ring_size(smiles: str | None) -> int:
    """Atoms in the largest (SSSR) ring of a molecule; 0 when it has none or cannot be read."""
    mol = mol_from_smiles(smiles) if smiles else None
    return max((len(r) for r in mol.GetRingInfo().AtomRings()), default=0) if mol is not None else 0


def ring_size_counts(smiles: Sequence[str | None]) -> dict[int, int]:
    """How many rings of each size the valid molecules hold in total (SSSR rings)."""
    counts: dict[int, int] = {}
    for s in smiles:
        mol = mol_from_smiles(s) if s else None
        if mol is None:
            continue
        for ring in mol.GetRingInfo().AtomRings():
            counts[len(ring)] = counts.get(len(ring), 0) + 1
    return dict(sorted(counts.items()))


def graph_edits(parents: Sequence[str], n: int, seed: int, mutate_fraction: float = 0.1) -> list[str]:
    """Up to ``n`` distinct canonical children of ``parents`` made by Graph GA edits on the molecular
    graph (Jensen 2019: ring and chain crossovers of two parents, atom and bond mutations), through the
    ``mol_ga`` package's operators: ``mutate_fraction`` of the parents are mutated, the rest crossed
    with a shuffled copy of themselves. Parents that repeat are mated more often."""
    import random

    from mol_ga.graph_ga.gen_candidates import graph_ga_blended_generation

    with quiet_rdkit():
        children = graph_ga_blended_generation(
            list(parents), n, random.Random(seed), frac_graph_ga_mutate=mutate_fraction
        )
    canonical, _ = canonicalize_many(sorted(children))
    return list(dict.fromkeys(s for s in canonical if s))
