"""`POST /v1/diagnoses`: per-epoch curves in, the state and the changes to make out."""

from __future__ import annotations

from fastapi import APIRouter, Response

from advisor.schemas import Curves, Diagnosis
from api.deps import RequireKey
from api.responses import BAD_BODY, TOO_LARGE, UNAUTHORIZED, invalid

router = APIRouter(prefix="/v1", tags=["advisor"])


@router.post("/diagnoses", response_model=Diagnosis, dependencies=[RequireKey],
             responses={**UNAUTHORIZED, **TOO_LARGE, **BAD_BODY, **invalid(
                 "`train_accuracy` and `val_accuracy` differ in length (one value per epoch "
                 "each)")})
async def create_diagnosis(curves: Curves) -> Response:
    """Overfitting, underfitting, healthy, diverging or not converged, with concrete changes."""
    from advisor import diagnose

    return Response(diagnose(curves).model_dump_json(), media_type="application/json")
