from fastapi import APIRouter

router = APIRouter(prefix="/twilio", tags=["twilio"])
