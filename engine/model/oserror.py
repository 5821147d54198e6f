"""Operating-system errors in French: the system's English text never reaches a user."""

from __future__ import annotations

import errno

_ERRNO_FR = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé (droits insuffisants)",
    errno.EPERM: "opération non permise",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.ELOOP: "lien symbolique en boucle",
    errno.EEXIST: "existe déjà",
    errno.ENOSPC: "disque plein",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.EBUSY: "ressource occupée",
    errno.EXDEV: "déplacement entre deux disques impossible",
    errno.ENOTEMPTY: "dossier non vide",
    errno.EDQUOT: "quota disque dépassé",
}


def os_error_fr(error: OSError) -> str:
    """A French phrase for an operating-system error (never the system's English text)."""
    if error.errno in _ERRNO_FR:
        return _ERRNO_FR[error.errno]
    if error.errno is not None:
        return f"erreur système (code {errno.errorcode.get(error.errno, error.errno)})"
    return "erreur système"
